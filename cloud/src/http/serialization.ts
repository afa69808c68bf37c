import fastJsonStringify, { type Options, type Schema } from "fast-json-stringify";

type Serializer = (data: unknown) => string;
type ExternalSchemas = Record<string, Schema>;

/** Serializers built so far in this process, by the shared schemas' ids and the response schema's JSON text. */
const built = new Map<string, Serializer>();

/**
 * fastify's serializer factory (`schemaController.compilersFactory.buildSerializer`), building as fastify's default
 * does (fast-json-stringify with the app's shared schemas), except that each distinct response schema is built once
 * per process and shared by every app built after. Building ~490 serializers was ~90 ms of a cloud's ~150 ms start,
 * and one process starts many clouds (the test suites hundreds, the site harness several). The routes' response
 * schemas are mostly small objects made per registration (an error answer is `{ description, $ref }`), so they are
 * told apart by their JSON text, which is all fast-json-stringify reads of them; the shared schemas (`addSchema`) by
 * their ids, since every app built by `buildApp` adds the same ones.
 */
export function sharedSerializers(externalSchemas?: unknown, serializerOpts?: Options) {
  const shared = (externalSchemas ?? {}) as ExternalSchemas;
  const prefix = `${JSON.stringify(Object.keys(shared).sort())}\n${JSON.stringify(serializerOpts ?? {})}\n`;
  return ({ schema }: { schema?: unknown }): Serializer => {
    const key = prefix + JSON.stringify(schema);
    let serializer = built.get(key);
    if (!serializer) {
      // As fastify's default: a schema that is itself one of the shared schemas is not passed again as an external.
      const { $id } = (schema ?? {}) as { $id?: string };
      const externals = $id !== undefined && $id in shared ? withoutKey(shared, $id) : shared;
      serializer = fastJsonStringify(schema as Schema, { ...serializerOpts, schema: externals }) as Serializer;
      built.set(key, serializer);
    }
    return serializer;
  };
}

function withoutKey(record: ExternalSchemas, key: string): ExternalSchemas {
  const { [key]: _, ...rest } = record;
  return rest;
}
