import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifySchema,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from "fastify";
import type { AuthRequirement } from "./auth.js";

/**
 * The fastify instance routes are declared on: request params, body and query are typed from the route's TypeBox
 * schema (the schema the validator checks them against), so a handler reads what was validated without a cast.
 */
export type TypedApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The instance a route function is given, with the TypeBox type provider. */
export const typed = (app: FastifyInstance): TypedApp => app.withTypeProvider<TypeBoxTypeProvider>();

/** A route's options: who may call it (http/auth.ts) and the schema that validates and documents it. */
export const route = <S extends FastifySchema>(auth: AuthRequirement, schema: S) => ({ config: { auth }, schema });
