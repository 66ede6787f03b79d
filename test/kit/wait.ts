/** The kit's waiting lives in core/ (the lab waits the same way); tests keep importing it from here. */
export { WaitAborted, waitFor } from "../../core/wait.js";
