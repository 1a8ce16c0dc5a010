#!/bin/sh
# A page that shows which branch and commit this stack runs, and one env var you can change
# with `/yadockeri env STACK set GREETING=...` (applied without a rebuild).
printf 'Content-Type: text/html; charset=utf-8\r\n\r\n'
cat <<HTML
<!doctype html>
<html><head><title>${YADOCKERI_STACK:-hello}</title></head>
<body style="font-family: sans-serif; margin: 3em">
<h1>${GREETING:-Hello} from ${YADOCKERI_STACK:-a stack}</h1>
<p>Branch <b>${YADOCKERI_BRANCH:-?}</b> at commit <code>${YADOCKERI_COMMIT:-?}</code>.</p>
<p>Deployed by yadockeri. Try another branch with <code>/yadockeri deploy NAME BRANCH</code>.</p>
</body></html>
HTML
