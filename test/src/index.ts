export { type BrokerVariant, brokerVariants } from "./brokers.js";
export { cloudDatabaseEnv, cloudStoreName } from "./database.js";
export { cleanExternalBroker, type ExternalBrokerRun, externalBrokerRun } from "./external-mqtt.js";
export { mosquittoBinary, skipWithoutMosquitto, startSiteMosquitto } from "./mosquitto.js";
export { Resources } from "./resources.js";
export { type BrokerMode, E2eSite, type E2eSiteOptions, VENDOR } from "./site.js";
export { announceSkip } from "./skip.js";
