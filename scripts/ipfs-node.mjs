// A js-ipfs node serving the Kubo RPC API (/api/v0/...) on loopback, for the IPFS mirror
// tests (tests/src/ipfs.rs starts it). Offline: no swarm, no bootstrap, no preload; its
// repository lives in the directory given, which the caller removes.
//
//   node scripts/ipfs-node.mjs <repo-dir> <api-port>
//
// Prints `ready http://127.0.0.1:<port>` on stdout once the API answers, and stops when
// its standard input closes (the test process went away) or on SIGTERM/SIGINT.
// Needs `bash scripts/install-tools` (ipfs-core and ipfs-http-server in .tools/npm-ipfs).

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

// A dependency of ipfs-core calls Promise.withResolvers, which Node 22 brought; Node 20
// lacks it.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const [repo, port] = process.argv.slice(2)
if (!repo || !/^\d+$/.test(port ?? '')) {
  console.error('usage: node scripts/ipfs-node.mjs <repo-dir> <api-port>')
  process.exit(2)
}

// The packages live in .tools/npm-ipfs, not beside this script: resolve them from there.
const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.CIM_IPFS_MODULES ?? path.join(here, '..', '.tools', 'npm-ipfs')
// Both packages are ESM-only: find each one's `import` entry point from its package.json.
async function load (name) {
  const dir = path.join(modules, 'node_modules', name)
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'))
  const root = pkg.exports?.['.'] ?? pkg.exports
  const entry = typeof root === 'string' ? root : (root?.import ?? root?.default ?? pkg.main)
  return import(pathToFileURL(path.join(dir, entry)).href)
}
const { create } = await load('ipfs-core')
const { HttpApi } = await load('ipfs-http-server')

const ipfs = await create({
  repo,
  offline: true,
  start: false,
  preload: { enabled: false },
  silent: true,
  config: {
    Addresses: { API: `/ip4/127.0.0.1/tcp/${port}`, Swarm: [], Gateway: '', RPC: '', Delegates: [] },
    Bootstrap: [],
    Discovery: { MDNS: { Enabled: false }, webRTCStar: { Enabled: false } }
  }
})
const api = new HttpApi(ipfs)
await api.start()
console.log(`ready http://127.0.0.1:${port}`)

let stopping = false
async function stop () {
  if (stopping) return
  stopping = true
  try { await api.stop() } catch {}
  try { await ipfs.stop() } catch {}
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
