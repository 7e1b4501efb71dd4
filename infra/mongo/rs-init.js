// Turns the single mongod into a one-member replica set (idempotent), so the
// stack behaves like a production replica set (change streams, retryable
// writes). Run by the mongo healthcheck in docker-compose.yml.
try {
  rs.status();
} catch (e) {
  rs.initiate({ _id: "rs0", members: [{ _id: 0, host: "mongo:27017" }] });
}
