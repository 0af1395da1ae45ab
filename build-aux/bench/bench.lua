-- bench.lua: the wrk script of `make bench` (build-aux/bench.sh).
--
-- Every mode checks every reply and counts only correct ones; wrk's own
-- request count would count an error page as throughput.  done() prints
-- one line for bench.sh:
--   BENCH ok=N fail=N ranout=N sock=N duration_us=N first_failure=...
-- fail: wrong replies; ranout: redeems sent after the pre-issued tokens
-- ran out (also in fail); sock: socket errors and timeouts, which wrk
-- counts itself (no reply at all; it reconnects).
--
-- usage: wrk ... -s bench.lua URL -- MODE ARGS...
--   static PATH LENGTH SESSIONS   GET PATH, expect 200 and LENGTH bytes
--   issue  PATH SESSIONS          GET PATH, expect a <reply> with a token
--   redeem TOKENS THREADS LENGTH  GET sendcallfile.mp3 once per token of
--                                 file TOKENS (thread i takes every
--                                 THREADS-th line); expect LENGTH bytes
--   mix    PATH SESSIONS LENGTH   issue, then redeem each token received
--                                 (LENGTH bytes): issue plus redeem
--   fill   PATH SESSIONS COUNT OUT   issue COUNT tokens per thread,
--                                 then stop; done() writes them to OUT
-- SESSIONS is a file of session ids, one a line; requests take them in
-- turn as a JSESSIONID cookie.  Every mode sends the same cookies, so
-- the client's work per request is the same on both sides of a ratio.

local REDEEM = "/callrec/sendcallfile.mp3?token="
local DECL = '<?xml version="1.0" encoding="UTF-8"?>\r\n'
local REPLY_PATTERN = "^" .. DECL:gsub("%p", "%%%0")
                      .. "<reply>(%w+)</reply>\n$"

-- ---- setup and done run in the main Lua state ------------------------

local threads = {}

function setup(thread)
    thread:set("tid", #threads)
    table.insert(threads, thread)
end

function done(summary, latency, requests)
    local ok, fail, ranout, first = 0, 0, 0, ""
    local out_path, tokens = nil, {}
    for _, t in ipairs(threads) do
        ok = ok + (t:get("ok") or 0)
        fail = fail + (t:get("fail") or 0)
        ranout = ranout + (t:get("ranout") or 0)
        if first == "" then
            first = t:get("first_failure") or ""
        end
        out_path = t:get("out_path")
        local got = t:get("got")
        if got then
            for _, tok in ipairs(got) do
                table.insert(tokens, tok)
            end
        end
    end
    -- Errors that never reached response(): a connection the server
    -- closed or reset, a timeout.  wrk reconnects and goes on.
    local e = summary.errors
    local sock = e.connect + e.read + e.write + e.timeout
    if out_path then
        local f = assert(io.open(out_path, "w"))
        for _, tok in ipairs(tokens) do
            f:write(tok, "\n")
        end
        f:close()
    end
    io.write(string.format("BENCH ok=%d fail=%d ranout=%d sock=%d "
                           .. "duration_us=%d first_failure=%s\n", ok, fail,
                           ranout, sock, summary.duration, first))
end

-- ---- the rest runs in each thread's own state -------------------------

ok, fail, ranout = 0, 0, 0
first_failure = nil

local mode
local requests, next_request = {}, 1
local expect_len
local queue, queue_head, queue_tail = {}, 1, 0
local want
local spent_request

local function failed(status, body)
    fail = fail + 1
    if first_failure == nil then
        first_failure = string.format("status %d, %d bytes: %s", status,
                                      #body, body:sub(1, 120):gsub("%c", " "))
    end
end

local function read_lines(path, every, offset)
    local lines, i = {}, 0
    for line in io.lines(path) do
        if line ~= "" then
            if i % every == offset then
                table.insert(lines, line)
            end
            i = i + 1
        end
    end
    return lines
end

local function build_session_requests(path, sessions)
    for _, id in ipairs(read_lines(sessions, 1, 0)) do
        table.insert(requests, wrk.format("GET", path,
                                          {Cookie = "JSESSIONID=" .. id}))
    end
    assert(#requests > 0, "no session ids in " .. sessions)
end

local function session_request()
    local req = requests[next_request]
    next_request = next_request % #requests + 1
    return req
end

local function token_of(status, body)
    if status ~= 200 then
        return nil
    end
    local tok = body:match(REPLY_PATTERN)
    if tok and #tok == 20 then
        return tok
    end
    return nil
end

function init(args)
    mode = args[1]
    if mode == "static" then
        build_session_requests(args[2], args[4])
        expect_len = tonumber(args[3])
    elseif mode == "issue" then
        build_session_requests(args[2], args[3])
    elseif mode == "redeem" then
        for _, tok in ipairs(read_lines(args[2], tonumber(args[3]), tid)) do
            table.insert(queue, wrk.format("GET", REDEEM .. tok))
        end
        expect_len = tonumber(args[4])
        -- A token that cannot exist: asked for once the file runs dry.
        spent_request = wrk.format("GET", REDEEM .. "ranOutOfTokens000000")
    elseif mode == "mix" then
        build_session_requests(args[2], args[3])
        expect_len = tonumber(args[4])
    elseif mode == "fill" then
        build_session_requests(args[2], args[3])
        want = tonumber(args[4])
        out_path = args[5]
        got = {}
    else
        error("bench.lua: unknown mode " .. tostring(mode))
    end
end

function request()
    if mode == "redeem" then
        local req = queue[queue_head]
        if req == nil then
            ranout = ranout + 1
            return spent_request
        end
        queue[queue_head] = nil
        queue_head = queue_head + 1
        return req
    elseif mode == "mix" then
        local tok = queue[queue_head]
        if tok ~= nil then
            queue[queue_head] = nil
            queue_head = queue_head + 1
            return wrk.format("GET", REDEEM .. tok)
        end
    end
    return session_request()
end

function response(status, headers, body)
    if mode == "static" or mode == "redeem" then
        if status == 200 and #body == expect_len then
            ok = ok + 1
        else
            failed(status, body)
        end
    elseif mode == "issue" then
        if token_of(status, body) then
            ok = ok + 1
        else
            failed(status, body)
        end
    elseif mode == "mix" then
        local tok = token_of(status, body)
        if tok then
            ok = ok + 1
            queue_tail = queue_tail + 1
            queue[queue_tail] = tok
        elseif status == 200 and #body == expect_len then
            ok = ok + 1
        else
            failed(status, body)
        end
    elseif mode == "fill" then
        local tok = token_of(status, body)
        if tok then
            ok = ok + 1
            if #got < want then
                table.insert(got, tok)
            end
            if #got >= want then
                wrk.thread:stop()
            end
        else
            failed(status, body)
        end
    end
end
