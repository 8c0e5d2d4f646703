// TAP-like steps for the JavaScript test scripts (browser and server guards): each prints
// `ok - name` or `not ok - name` with the error, and `failed` tells whether one failed.
export function steps() {
  const state = { failed: false };
  const step = async (name, body) => {
    try {
      await body();
      console.log(`ok - ${name}`);
    } catch (error) {
      state.failed = true;
      console.log(`not ok - ${name}\n  ${String(error.stack || error).replaceAll("\n", "\n  ")}`);
      throw error;
    }
  };
  return {
    step,
    get failed() {
      return state.failed;
    },
  };
}
