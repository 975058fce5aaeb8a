// PGlite (WASM PostgreSQL) with the TimescaleDB extension, served over the
// PostgreSQL wire protocol, so that psycopg can run hub/store.py's TimescaleDB path.
//
//   node server.mjs PORT [--data-dir DIR] [--watch-stdin]
//
// PORT 0 picks a free port. Without --data-dir the database lives in memory.
// --watch-stdin: exit when stdin closes (the pytest fixture holds the pipe, so a
// killed test run cannot leave the server behind).
//
// Why not @electric-sql/pglite-socket: PGlite is one backend (one session), and
// pglite-socket hands raw TCP chunks to it. Three things break the hub's code there:
//  * COPY ... FROM STDIN (the ingest writer) kills the WASM backend ("unreachable"):
//    here the copy data is collected and run as COPY ... FROM '<file>' instead;
//  * the session outlives the client: temp tables, prepared statements
//    (psycopg's _pg3_N names), advisory locks, SET and an open transaction leak into
//    the next connection: here ROLLBACK + DISCARD ALL run when a client goes;
//  * messages split across TCP chunks: here messages are framed first.
// Clients are served one at a time, in order of arrival; a client that waits longer
// than --queue-timeout-s (default 30) is refused with an error saying why.

import net from 'node:net'
import { PGlite } from '@electric-sql/pglite'
import { timescaledb } from '@electric-sql/pglite/timescaledb'

const args = process.argv.slice(2)
function option(name, fallback) {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : fallback
}
const port = Number(args[0])
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error('usage: node server.mjs PORT [--data-dir DIR] [--watch-stdin]')
  process.exit(2)
}
const dataDir = option('--data-dir', undefined)
const queueTimeoutMs = Number(option('--queue-timeout-s', '30')) * 1000
const COPY_FILE = '/tmp/tlive_copy_from_stdin'

const db = await PGlite.create({ dataDir, extensions: { timescaledb } })

// PGlite starts postgres with search_path=pg_catalog and client_min_messages=debug3 on
// its command line, then SETs search_path in its session. Every client starts from this
// baseline (PGlite's session settings, and NOTICE as a real server's default), restored
// after DISCARD ALL, which would otherwise fall back to the command-line values.
// PGlite loads TimescaleDB without shared_preload_libraries (it has no postmaster);
// TimescaleDB's own switch for that says so to clients (hub.store checks it before
// CREATE EXTENSION, which on a real server without preloading ends the session).
const sessionSql =
  "SET client_min_messages TO notice; SET timescaledb.allow_install_without_preload TO 'on';"
await db.exec(sessionSql)
const baseline = (
  await db.query("SELECT name, setting FROM pg_settings WHERE source = 'session'")
).rows
const restoreSql =
  baseline
    .map((r) => `SELECT set_config('${r.name}', '${r.setting.replace(/'/g, "''")}', false);`)
    .join(' ') + sessionSql // (a placeholder setting is not in pg_settings)

// ------------------------------------------------------------------ protocol helpers
function message(type, body) {
  const out = Buffer.alloc(5 + body.length)
  out.write(type, 0, 'latin1')
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}
const query = (sql) => message('Q', Buffer.from(sql + '\0', 'utf8'))

function errorResponse(code, text) {
  const f = (k, v) => Buffer.from(k + v + '\0', 'utf8')
  const body = Buffer.concat([f('S', 'FATAL'), f('V', 'FATAL'), f('C', code), f('M', text)])
  return message('E', Buffer.concat([body, Buffer.from([0])]))
}

const COPY_IN = /^\s*copy\s+([\s\S]+?)\s+from\s+stdin\b([\s\S]*?);?\s*$/i

async function exec(bytes) {
  return Buffer.from(await db.execProtocolRaw(new Uint8Array(bytes)))
}

// ------------------------------------------------------------------ one client session
async function serve(socket, initial) {
  let buf = initial
  let phase = 'startup' // 'startup' | 'normal' | 'copy'
  let copySql = ''
  let copyChunks = []
  let wake = null
  let closed = false
  const onData = (d) => {
    buf = Buffer.concat([buf, d])
    if (wake) wake()
  }
  socket.on('data', onData)
  const done = new Promise((resolve) => socket.once('close', resolve))
  socket.once('close', () => {
    closed = true
    if (wake) wake()
  })
  socket.on('error', () => {})
  const write = (b) => {
    if (!closed && b.length) socket.write(b)
  }
  const nextData = () => new Promise((resolve) => (wake = resolve)).then(() => (wake = null))

  try {
    while (!closed) {
      let pending = []
      const flush = async () => {
        if (pending.length) {
          const out = await exec(Buffer.concat(pending))
          pending = []
          write(out)
        }
      }
      while (true) {
        if (phase === 'startup') {
          if (buf.length < 4) break
          const len = buf.readInt32BE(0)
          if (buf.length < len) break
          const packet = buf.subarray(0, len)
          buf = buf.subarray(len)
          const code = packet.readInt32BE(4)
          if (code === 80877103 || code === 80877104) {
            write(Buffer.from('N')) // no SSL, no GSS encryption
          } else if (code === 80877102) {
            socket.end() // CancelRequest: not supported
            return
          } else {
            write(await exec(packet))
            phase = 'normal'
          }
          continue
        }
        if (buf.length < 5) break
        const len = buf.readInt32BE(1)
        if (buf.length < 1 + len) break
        const msg = buf.subarray(0, 1 + len)
        buf = buf.subarray(1 + len)
        const type = String.fromCharCode(msg[0])
        if (phase === 'copy') {
          if (type === 'd') {
            copyChunks.push(Buffer.from(msg.subarray(5)))
          } else if (type === 'c') {
            db.Module.FS.writeFile(COPY_FILE, Buffer.concat(copyChunks))
            copyChunks = []
            phase = 'normal'
            write(await exec(query(copySql)))
            db.Module.FS.unlink(COPY_FILE)
          } else if (type === 'f') {
            const why = msg.subarray(5, msg.length - 1).toString('utf8').replace(/[$']/g, ' ')
            copyChunks = []
            phase = 'normal'
            write(
              await exec(
                query(
                  "DO $tlive$ BEGIN RAISE EXCEPTION 'COPY from stdin failed: " +
                    why +
                    "' USING ERRCODE = 'query_canceled'; END $tlive$",
                ),
              ),
            )
          } // 'H' and 'S' are ignored during COPY IN, as by PostgreSQL
          continue
        }
        if (type === 'X') {
          await flush()
          socket.end()
          return
        }
        if (type === 'Q') {
          const sql = msg.subarray(5, msg.length - 1).toString('utf8')
          const m = COPY_IN.exec(sql)
          if (m) {
            await flush()
            const opts = m[2] || ''
            copySql = `COPY ${m[1]} FROM '${COPY_FILE}'${opts}`
            const binary = /\bbinary\b/i.test(opts) ? 1 : 0
            write(message('G', Buffer.from([binary, 0, 0]))) // CopyInResponse, 0 columns
            phase = 'copy'
            continue
          }
        }
        pending.push(msg)
      }
      await flush()
      if (!closed) await nextData()
    }
  } finally {
    socket.off('data', onData)
    if (!closed) socket.destroy()
    await done
    // the next client gets a fresh session, as a real server would give it
    await exec(query('ROLLBACK'))
    await exec(query('DISCARD ALL'))
    await exec(query(restoreSql))
  }
}

// ------------------------------------------------------------------ one client at a time
const waiting = []
let busy = false

function admit(socket) {
  const entry = { socket, timer: null, buf: Buffer.alloc(0), onData: null }
  // while it waits: answer SSL/GSS requests (so that libpq shows a refusal's text)
  // and keep the rest for its turn
  entry.onData = (d) => {
    entry.buf = Buffer.concat([entry.buf, d])
    while (entry.buf.length >= 8 && entry.buf.readInt32BE(0) === 8) {
      const code = entry.buf.readInt32BE(4)
      if (code !== 80877103 && code !== 80877104) break
      socket.write(Buffer.from('N'))
      entry.buf = entry.buf.subarray(8)
    }
  }
  socket.on('data', entry.onData)
  entry.timer = setTimeout(() => {
    const i = waiting.indexOf(entry)
    if (i >= 0) waiting.splice(i, 1)
    socket.end(
      errorResponse(
        '53300',
        `PGlite serves one connection at a time; another client has held it for more than ` +
          `${queueTimeoutMs / 1000} s (close your connection before opening another)`,
      ),
    )
  }, queueTimeoutMs)
  socket.on('error', () => {})
  waiting.push(entry)
  next()
}

function next() {
  if (busy) return
  const entry = waiting.shift()
  if (!entry) return
  clearTimeout(entry.timer)
  if (entry.socket.destroyed || !entry.socket.readable) return next()
  busy = true
  entry.socket.off('data', entry.onData)
  serve(entry.socket, entry.buf)
    .catch((err) => {
      console.error('session error:', err)
      entry.socket.destroy()
    })
    .finally(() => {
      busy = false
      next()
    })
}

const server = net.createServer(admit)
server.listen(port, '127.0.0.1', async () => {
  const v = await db.query(
    "SELECT version() AS pg, (SELECT default_version FROM pg_available_extensions " +
      "WHERE name = 'timescaledb') AS tsdb",
  )
  const { pg, tsdb } = v.rows[0]
  console.log(`listening on 127.0.0.1:${server.address().port} (${pg.split(' on ')[0]}, TimescaleDB ${tsdb})`)
})

async function shutdown() {
  server.close()
  for (const e of waiting) e.socket.destroy()
  try {
    await db.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
if (args.includes('--watch-stdin')) {
  process.stdin.on('end', shutdown)
  process.stdin.on('error', shutdown)
  process.stdin.resume()
}
