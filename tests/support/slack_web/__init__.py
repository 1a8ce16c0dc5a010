"""The parts of the Slack Web API stand-in (`tests.support.slack_standin.SlackStandin` puts them together).

  base.py           what every part shares: params, the records kept, the errors Slack answers with
  workspace.py      the workspace: its identity, channels and users, and the state calls leave (messages, views, files)
  parsing.py        request bodies as Slack reads them (JSON, form, multipart; tokens)
  front.py          the HTTP server and its routes: /api/<method> (token, scopes, rate limit, recorded), uploads,
                    response URLs (5 posts within their time to live)
  scopes.py         the scope each method needs, and the granted ones (slack/manifest.yml's by default)
  auth.py           api.test, auth.test, apps.connections.open
  chat.py           chat.*
  conversations.py  conversations.info, conversations.join, conversations.open, users.info
  views.py          views.* and trigger ids
  files.py          files.* (the 3-step external upload)
"""
