// The benchmark baseline broker: aedes with its defaults (in-memory, no authentication, no hooks).
import { createServer } from "node:net";
import { Aedes } from "aedes";

const port = Number(process.argv[2]);
const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
server.listen(port, "127.0.0.1", () => console.log(JSON.stringify({ msg: "bare aedes ready", port })));
process.on("SIGTERM", () => server.close(() => broker.close(() => process.exit(0))));
