export * from "./types.js";
export * from "./fsm.js";
export * from "./clock.js";
