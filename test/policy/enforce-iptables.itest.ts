import t from "tap";
import { enforcementSuite } from "./harness/suite.js";

enforcementSuite(t, "iptables");
