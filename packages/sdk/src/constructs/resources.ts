import { resourceClass } from './resource.js';

// One line per resource type: props, attributes and references all come from the type's schema.

/** A disk image imported into each host's image cache (`image`). */
export class Image extends resourceClass('image') {}
/** A layer-2 network (`network`). */
export class Network extends resourceClass('network') {}
/** An IPv4 subnet of a network (`subnet`). */
export class Subnet extends resourceClass('subnet') {}
/** A virtual machine (`server`). */
export class Server extends resourceClass('server') {}
