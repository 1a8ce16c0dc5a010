"""The HTTP API: a front end like bot/ and yadockeri/ (JSON under /api/v1, tokens, event
streams). It calls the engine with plain values and never imports docker or Slack."""
