/**
 * The dashboard's flags: the port and address help every command shows.
 * Loaded with the commands: nothing of the dashboard itself.
 */

export const PORT_HELP = '(default: 9470; 0 picks a free one)';
export const BIND_HELP =
  'address to listen on (default: 127.0.0.1); beyond loopback it needs MQTTKIT_DASHBOARD_TOKEN';
