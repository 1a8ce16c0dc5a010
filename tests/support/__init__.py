"""Test support: local stand-ins for Slack (Web API, Socket Mode) and Slack request builders.

- `slack_standin.SlackStandin`: a strict local Slack Web API server (`base_url` for `slack_sdk.WebClient`);
  its parts (workspace state, HTTP routes, one module per API family) are in `slack_web/`.
- `socket_mode_standin.SocketModeStandin`: a local Socket Mode WebSocket server.
- `slack_requests`: signing and the payloads Slack sends to apps (slash commands, interactions).
- `blockkit`: the Block Kit rules the stand-in enforces.
"""
