/** The datastore's public surface, for ipam/, felix/, cni/, cli/ and the chart. */
export {
  openDatastore,
  openBackend,
  parseDatastoreUrl,
  type DatastoreUrl,
  type OpenOptions,
} from "./open.js";
export type {
  Datastore,
  DeleteOptions,
  ListResult,
  ObjectMeta,
  ObjectOf,
  StoredObject,
  Watch,
  WatchEvent,
  WatchEventType,
  WatchOptions,
} from "./types.js";
export {
  AlreadyExistsError,
  ConflictError,
  DatastoreError,
  ExpiredError,
  NotFoundError,
  ReadOnlyError,
  isDatastoreError,
  type DatastoreErrorCode,
} from "./errors.js";
export {
  KINDS,
  KIND_NAMES,
  TORTIE_API_VERSION,
  TORTIE_GROUP,
  apiVersionOf,
  kindOf,
  type KindInfo,
  type KindName,
} from "./kinds.js";
export { Informer, type InformerEvent, type InformerOptions } from "./informer.js";
export { Store, type Backend, type Validator } from "./store.js";
export { objectRef } from "./identity.js";
export {
  validateObject,
  setPolicyValidator,
  POLICY_KINDS,
  type PolicyKind,
  type PolicyValidator,
} from "./validate.js";
export { decodeManifest, CALICO_API_VERSION, CONVERTED_FROM } from "./manifest.js";
export {
  customResourceDefinitions,
  customResourceDefinition,
  CRD_KINDS,
  type CustomResourceDefinition,
} from "./crd.js";
export type * from "./schema/resources.js";
