#!/usr/bin/env node
// Checks a cim-events CAR export with the reference JavaScript IPLD stack, sharing no code
// with the Rust crate: @ipld/car reads the file, multiformats re-hashes every block with
// sha2-256, @ipld/dag-cbor decodes each block (strictly) and re-encodes it to prove the
// bytes are canonical, and each root's chain is walked along its `prev` links, from head
// to genesis, through the blocks of the file in whatever order they come (CARv1 gives block
// order no meaning; cim-events writes each chain genesis first). Every block must belong to
// exactly one root's chain.
//
//   node scripts/verify-car.mjs FILE.car
//
// Prints one JSON object with counts and exits 0 when every check passes, 1 otherwise
// (the JSON then lists the errors). Needs `bash scripts/install-tools`, which installs the
// pinned packages into .tools/npm (override with CIM_NPM_DIR).

import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const DAG_CBOR = 0x71
const SHA2_256 = 0x12

const npmDir = process.env.CIM_NPM_DIR
  ? pathToFileURL(resolve(process.env.CIM_NPM_DIR) + '/')
  : new URL('../.tools/npm/', import.meta.url)

// ES modules ignore NODE_PATH, so resolve each package's `import` export from .tools/npm
// by hand; the versions are pinned there by scripts/npm/package-lock.json.
async function load (pkg, subpath = '.') {
  const base = new URL(`node_modules/${pkg}/`, npmDir)
  let manifest
  try {
    manifest = JSON.parse(await readFile(new URL('package.json', base), 'utf8'))
  } catch {
    fail(`npm package ${pkg} not found under ${npmDir.pathname}: run \`bash scripts/install-tools\``)
  }
  let entry = manifest.exports?.[subpath] ?? (subpath === '.' ? manifest.main : undefined)
  while (entry && typeof entry === 'object') entry = entry.import ?? entry.default
  if (typeof entry !== 'string') fail(`${pkg} has no ES module export ${subpath}`)
  return import(new URL(entry, base).href)
}

function fail (message) {
  console.error(message)
  process.exit(2)
}

const file = process.argv[2]
if (!file) fail('usage: node scripts/verify-car.mjs FILE.car')

const { CarBlockIterator } = await load('@ipld/car', './iterator')
const dagCbor = await load('@ipld/dag-cbor')
const { sha256 } = await load('multiformats', './hashes/sha2')
const { equals } = await load('multiformats', './bytes')
const { CID } = await load('multiformats', './cid')

const errors = []
const report = {
  roots: [],
  blocks: 0,
  cids: [],
  rehashed: 0,
  decoded: 0,
  reencoded_identical: 0,
  prev_links: 0,
  genesis: 0,
  chains: [],
  errors
}

const bytes = await readFile(file)
let iterator
try {
  iterator = await CarBlockIterator.fromBytes(bytes)
} catch (e) {
  errors.push(`not a CAR file: ${e.message}`)
  finish()
}
const roots = await iterator.getRoots()
report.roots = roots.map(String)

// Read everything first so the link walk can look one block ahead.
const blocks = []
try {
  for await (const { cid, bytes } of iterator) blocks.push({ cid, bytes })
} catch (e) {
  errors.push(`CAR body unreadable after block ${blocks.length}: ${e.message}`)
}
report.blocks = blocks.length
report.cids = blocks.map(b => String(b.cid))

const decoded = []
for (const [i, { cid, bytes }] of blocks.entries()) {
  const where = `block ${i} (${cid})`
  if (cid.version !== 1 || cid.code !== DAG_CBOR || cid.multihash.code !== SHA2_256) {
    errors.push(`${where}: not a CIDv1 dag-cbor sha2-256 CID`)
  }
  const digest = await sha256.digest(bytes)
  if (equals(digest.bytes, cid.multihash.bytes)) {
    report.rehashed++
  } else {
    errors.push(`${where}: bytes hash to ${CID.createV1(DAG_CBOR, digest)}`)
  }
  let value = null
  try {
    value = dagCbor.decode(bytes)
    report.decoded++
    if (equals(dagCbor.encode(value), bytes)) {
      report.reencoded_identical++
    } else {
      errors.push(`${where}: not canonical DAG-CBOR (re-encoding differs)`)
    }
  } catch (e) {
    errors.push(`${where}: not DAG-CBOR: ${e.message}`)
  }
  decoded.push(value)
}

// Chains: from each root, follow prev links through the blocks by CID down to seq 1.
const byCid = new Map()
for (const [i, { cid }] of blocks.entries()) {
  const key = String(cid)
  if (byCid.has(key)) errors.push(`block ${i} (${cid}) appears twice`)
  else byCid.set(key, i)
}
const visited = new Set()
for (const root of roots) {
  const chain = { root: String(root), aggregate_id: null, length: 0 }
  report.chains.push(chain)
  let at = byCid.get(String(root))
  if (at === undefined) {
    errors.push(`root ${root} has no block`)
    continue
  }
  chain.aggregate_id = decoded[at]?.aggregate_id ?? null
  while (at !== undefined) {
    const cid = blocks[at].cid
    const value = decoded[at]
    if (visited.has(at)) {
      errors.push(`block ${at} (${cid}) is reached twice`)
      break
    }
    visited.add(at)
    chain.length++
    if (value === null) break
    if (value.aggregate_id !== chain.aggregate_id) {
      errors.push(`block ${at} (${cid}) belongs to ${value.aggregate_id}, chain is ${chain.aggregate_id}`)
    }
    if (value.prev === null) {
      if (value.seq === 1) report.genesis++
      else errors.push(`block ${at} (${cid}) has no prev but seq ${value.seq}`)
      break
    }
    const next = byCid.get(String(value.prev))
    if (next === undefined) {
      errors.push(`block ${at} (${cid}) links to ${value.prev}, which is not in the file`)
      break
    }
    if (decoded[next]?.seq !== value.seq - 1) {
      errors.push(`block ${at} (${cid}) at seq ${value.seq} links to seq ${decoded[next]?.seq}`)
    }
    report.prev_links++
    at = next
  }
}
for (const [i, { cid }] of blocks.entries()) {
  if (!visited.has(i)) errors.push(`block ${i} (${cid}) belongs to no root's chain`)
}

finish()

function finish () {
  console.log(JSON.stringify(report))
  process.exit(errors.length === 0 ? 0 : 1)
}
