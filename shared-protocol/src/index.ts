export * from "./topics.js";
export * from "./envelope.js";
export * from "./messages.js";
export * from "./http.js";
export * from "./parse.js";
export * from "./ids.js";
