# Counts the router's requests per stack. nginx writes "STACK MSEC" per request into a FIFO,
# a ticker writes "tick" every second; on each tick this prints one line per stack that had
# requests since the last one: "yadockeri-activity STACK COUNT LAST_MSEC" (yadockeri follows
# the router's stdout). One line a second per busy stack, not one per request.
function flush(stack) {
    for (stack in count)
        printf "yadockeri-activity %s %d %s\n", stack, count[stack], last[stack]
    split("", count)
    split("", last)
    fflush()
}
$1 == "tick" { flush(); next }
NF == 2 { count[$1]++; last[$1] = $2 }
END { flush() }
