import { Name, PublicKey } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/**
 * An SSH key pair (Nova keypair). Given a public key, the agent records it; given none, it generates an
 * RSA key pair (2048 bits, as Nova generates them) and returns the private key once, as a sensitive
 * output. Servers name it with `keyPair` (Nova's `key_name`): its public key reaches the config drive's
 * `public_keys` and `keys` under the key pair's name. Key pairs are immutable in Nova: any change replaces.
 */
export const keypair = defineResource({
  type: 'keypair',
  collection: 'keypairs',
  description:
    'An SSH key pair: a public key you give, or a key pair the agent generates (RSA 2048) whose private key is a sensitive output.',
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({
          requiresReplace: true,
          description:
            'Key pair name: the key is listed under it on the config drive; defaults to the resource name.',
        }),
      ),
      publicKey: Type.Optional(
        PublicKey({
          computed: true,
          requiresReplace: true,
          description: 'OpenSSH public key (one line). Leave it out to have the agent generate a key pair.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    fingerprint: Type.String({
      description: "MD5 fingerprint of the public key, colon-separated hex (Nova's keypair fingerprint).",
    }),
    type: Type.Literal('ssh', { description: 'Key type, as Nova reports it.' }),
    privateKey: Type.Optional(
      Type.String({
        sensitive: true,
        description: 'PEM private key, when the agent generated the pair; never shown.',
      }),
    ),
  }),
});
