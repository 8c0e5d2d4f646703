use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use session_shared::guard::{Session, SessionGuard};

/// `/orders` needs a signed-in session (401 without one, 403 for a guest); `/cart` lets guest
/// sessions in too; `/` greets signed-in and anonymous callers (a guest is anonymous there).
pub fn app(guard: SessionGuard) -> Router {
    let required = guard.layer();
    let optional = required.clone().optional();
    let guests = required.clone().allow_guests();
    Router::new()
        .route("/orders", get(orders).post(place_order))
        .route_layer(required)
        .merge(Router::new().route("/cart", get(cart)).route_layer(guests))
        .merge(Router::new().route("/", get(home)).route_layer(optional))
}

async fn cart(session: Session) -> Json<Value> {
    Json(json!({ "guest": session.guest, "cart": session.data.as_map().get("cart") }))
}

async fn orders(session: Session) -> Json<Value> {
    Json(json!({ "user": session.user_id, "tenant": session.tenant_id, "orders": [] }))
}

async fn place_order(session: Session) -> Json<Value> {
    Json(json!({ "placed_for": session.user_id }))
}

async fn home(session: Option<Session>) -> String {
    match session {
        Some(session) => format!("Hello, {}", session.user_id.as_str()),
        None => "Hello, stranger".to_owned(),
    }
}
