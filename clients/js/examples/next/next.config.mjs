// next.config.mjs: one host. The browser calls /sessions/* on the app's own origin and Next
// passes it to the session API, so the __Host- cookie the API sets belongs to the app's host
// and reaches the app's routes too.
export default {
  async rewrites() {
    return [{ source: "/sessions/:path*", destination: `${process.env.SESSION_API_URL}/sessions/:path*` }];
  },
};
