// Reads just enough of an ELF64, Mach-O 64 or PE32+ file to tell whether a prebuilt addon will
// load where we promise: its architecture, the libraries and symbol versions it needs, what it
// exports and (macOS) the oldest OS it accepts. No dependencies, so the build script, the tests and
// a bare CI image can all use it, and no readelf/otool/dumpbin is needed on any of them.
// Usage: node scripts/lib/binary-format.cjs FILE...   one JSON line per file; for files inside a
// prebuilds/<platform>-<arch>/ folder it adds the problems checkPrebuild finds; exit 1 on any.
'use strict';

const fs = require('fs');
const path = require('path');

class BinaryFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BinaryFormatError';
  }
}

const fail = (message) => {
  throw new BinaryFormatError(message);
};
const hex = (n) => `0x${n.toString(16)}`;
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Bounds-checked reads. The offsets and counts come from the file itself, so a truncated or
 * hostile file must end in a BinaryFormatError here, never in a RangeError from Buffer, a huge
 * allocation or a read of the wrong bytes.
 */
function reader(buf, littleEndian, format) {
  const len = buf.length;
  const need = (off, n) => {
    if (!Number.isSafeInteger(off) || !Number.isSafeInteger(n) || off < 0 || n < 0 || off + n > len) {
      fail(`${format}: truncated or corrupt (needs ${n} bytes at offset ${off}, the file has ${len})`);
    }
    return off;
  };
  return {
    need,
    u8: (off) => buf[need(off, 1)],
    u16: (off) => (littleEndian ? buf.readUInt16LE(need(off, 2)) : buf.readUInt16BE(need(off, 2))),
    u32: (off) => (littleEndian ? buf.readUInt32LE(need(off, 4)) : buf.readUInt32BE(need(off, 4))),
    u64: (off) => {
      const v = littleEndian ? buf.readBigUInt64LE(need(off, 8)) : buf.readBigUInt64BE(need(off, 8));
      if (v > MAX_SAFE) fail(`${format}: corrupt (64-bit value ${v} at offset ${off} is too large)`);
      return Number(v);
    },
    /** The NUL must come before `end` (the end of its string table), so one bad offset cannot run through the whole file. */
    str: (off, end) => {
      const stop = Math.min(end, len);
      const nul = off >= 0 && off < stop ? buf.subarray(off, stop).indexOf(0) : -1;
      if (nul < 0) fail(`${format}: corrupt string at offset ${off} (outside its table or not NUL-terminated)`);
      return buf.toString('utf8', off, off + nul);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// ELF64 little-endian (Linux x64 and arm64; big-endian and 32-bit targets are not built).

const ELF_MACHINE = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64', 21: 'ppc64', 22: 's390x' };
const ELF_TYPE = { 1: 'relocatable', 2: 'executable', 3: 'shared', 4: 'core' };
const SHT = { dynamic: 6, dynsym: 11, verneed: 0x6ffffffe };

function describeElf(buf) {
  if (buf.length < 64) fail(`ELF: truncated (a 64-bit header needs 64 bytes, the file has ${buf.length})`);
  if (buf[4] !== 2) fail(`ELF: only 64-bit files are supported (EI_CLASS is ${buf[4]})`);
  if (buf[5] !== 1) fail(`ELF: only little-endian files are supported (EI_DATA is ${buf[5]})`);
  const r = reader(buf, true, 'ELF');
  const type = r.u16(0x10);
  const machine = r.u16(0x12);
  const shoff = r.u64(0x28);
  const shentsize = r.u16(0x3a);
  let shnum = r.u16(0x3c);

  // The dynamic symbols are found through the section headers; a loader would use the program
  // headers instead, but every linker we use keeps section headers and --strip keeps them too.
  if (shoff === 0) fail('ELF: no section headers (sstripped?), so its dynamic symbols cannot be read');
  if (shentsize < 64) fail(`ELF: section header size ${shentsize} is below the 64 bytes of ELF64`);
  // More than 0xff00 sections: e_shnum is 0 and the real count sits in section 0's sh_size.
  if (shnum === 0) shnum = r.u64(shoff + 32);
  r.need(shoff, shnum * shentsize);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * shentsize;
    sections.push({ type: r.u32(h + 4), offset: r.u64(h + 24), size: r.u64(h + 32), link: r.u32(h + 40), info: r.u32(h + 44), entsize: r.u64(h + 56) });
  }
  const body = (s) => {
    r.need(s.offset, s.size);
    return { start: s.offset, end: s.offset + s.size };
  };
  const stringsOf = (s) => {
    const table = sections[s.link];
    if (!s.link || !table) fail(`ELF: a section links to string table ${s.link}, but there are ${shnum} sections`);
    const { start, end } = body(table);
    return (index) => r.str(start + index, end);
  };
  const first = (t) => sections.find((s) => s.type === t);

  const needed = [];
  const dynamic = first(SHT.dynamic);
  if (dynamic) {
    const str = stringsOf(dynamic);
    const { start, end } = body(dynamic);
    for (let e = start; e + 16 <= end; e += 16) {
      // d_tag is read as two halves so that unusual (e.g. negative OS-specific) tags are not an error.
      const tagLow = r.u32(e);
      const tagHigh = r.u32(e + 4);
      if (tagHigh !== 0) continue;
      if (tagLow === 0) break; // DT_NULL
      if (tagLow === 1) needed.push(str(r.u64(e + 8))); // DT_NEEDED
    }
  }

  const exports = new Set();
  const dynsym = first(SHT.dynsym);
  if (dynsym) {
    if (dynsym.entsize !== 24) fail(`ELF: .dynsym entry size ${dynsym.entsize} is not 24`);
    const str = stringsOf(dynsym);
    const { start, end } = body(dynsym);
    for (let e = start + 24; e + 24 <= end; e += 24) { // entry 0 is the reserved null symbol
      const bind = r.u8(e + 4) >> 4;
      const visibility = r.u8(e + 5) & 3;
      const defined = r.u16(e + 6) !== 0; // SHN_UNDEF
      const global = bind === 1 || bind === 2 || bind === 10; // GLOBAL, WEAK, GNU_UNIQUE
      const visible = visibility === 0 || visibility === 3; // DEFAULT, PROTECTED
      const name = r.u32(e);
      if (defined && global && visible && name !== 0) exports.add(str(name));
    }
  }

  // Elf64_Verneed / Elf64_Vernaux chains. Each step moves forward by a non-zero relative offset and
  // must stay inside the section, so a corrupt chain ends instead of looping.
  const versions = [];
  const verneed = first(SHT.verneed);
  if (verneed) {
    const str = stringsOf(verneed);
    const { start, end } = body(verneed);
    const inside = (off) => {
      if (off + 16 > end) fail('ELF: version-needed chain runs past the end of its section');
      return off;
    };
    let v = start;
    for (let i = 0; i < verneed.info; i++) {
      inside(v);
      const names = [];
      let a = v + r.u32(v + 8);
      for (let k = r.u16(v + 2); k > 0; k--) {
        names.push(str(r.u32(inside(a) + 8)));
        const next = r.u32(a + 12);
        if (next === 0) break;
        a += next;
      }
      versions.push({ library: str(r.u32(v + 4)), names });
      const next = r.u32(v + 12);
      if (next === 0) break;
      v += next;
    }
  }

  return {
    format: 'elf',
    arch: ELF_MACHINE[machine] || `elf-machine-${machine}`,
    kind: ELF_TYPE[type] || `elf-type-${type}`,
    exports: [...exports],
    needed,
    versions,
  };
}

// ---------------------------------------------------------------------------------------------
// Mach-O 64 little-endian (macOS x64 and arm64), and universal ("fat") files made of them.

const MACHO_CPU = { 7: 'ia32', 12: 'arm', 0x01000007: 'x64', 0x0100000c: 'arm64' };
const MACHO_TYPE = { 1: 'object', 2: 'executable', 6: 'dylib', 8: 'bundle' };
const MACHO_PLATFORM = { 1: 'macos', 2: 'ios', 3: 'tvos', 4: 'watchos', 6: 'maccatalyst' };
// LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LAZY_LOAD_DYLIB, LC_LOAD_UPWARD_DYLIB
const LC_DYLIBS = new Set([0xc, 0x80000018, 0x8000001f, 0x20, 0x80000023]);
const LC = { symtab: 0x2, versionMinMacos: 0x24, buildVersion: 0x32 };

/** Mach-O packs versions as xxxx.yy.zz in one 32-bit word. */
const machoVersion = (v) => `${v >>> 16}.${(v >>> 8) & 0xff}${v & 0xff ? `.${v & 0xff}` : ''}`;

function describeMachO(buf) {
  const r = reader(buf, true, 'Mach-O');
  const cputype = r.u32(4);
  const filetype = r.u32(12);
  const ncmds = r.u32(16);
  const end = 32 + r.u32(20); // sizeofcmds; the commands follow the 32-byte header
  r.need(32, end - 32);

  const needed = [];
  const exports = [];
  let minOs;
  for (let i = 0, c = 32; i < ncmds; i++) {
    if (c + 8 > end) fail(`Mach-O: load command ${i} starts past sizeofcmds`);
    const cmd = r.u32(c);
    const size = r.u32(c + 4);
    // A size below 8 would never advance (an endless loop on a hostile file).
    if (size < 8 || c + size > end) fail(`Mach-O: load command ${i} has a bad size ${size}`);
    if (LC_DYLIBS.has(cmd)) {
      needed.push(r.str(c + r.u32(c + 8), c + size));
    } else if (cmd === LC.symtab) {
      const symoff = r.u32(c + 8);
      const nsyms = r.u32(c + 12);
      const stroff = r.u32(c + 16);
      const strend = stroff + r.u32(c + 20);
      r.need(symoff, nsyms * 16);
      r.need(stroff, strend - stroff);
      for (let s = symoff; s < symoff + nsyms * 16; s += 16) {
        const type = r.u8(s + 4);
        // Not a debugging (N_STAB) entry, external (N_EXT) and defined (N_TYPE != N_UNDF). N_PEXT is
        // not excluded: ld64 clears N_EXT on hidden symbols anyway, while zig's linker leaves
        // N_EXT|N_PEXT set and also lists them in the export trie, so dyld does export them.
        if ((type & 0xe0) === 0 && (type & 0x01) && (type & 0x0e) !== 0) exports.push(r.str(stroff + r.u32(s), strend));
      }
    } else if (cmd === LC.buildVersion) {
      const platform = r.u32(c + 8);
      const version = machoVersion(r.u32(c + 12));
      minOs = platform === 1 ? version : `${MACHO_PLATFORM[platform] || `platform-${platform}`} ${version}`;
    } else if (cmd === LC.versionMinMacos && minOs === undefined) {
      minOs = machoVersion(r.u32(c + 8));
    }
    c += size;
  }
  return {
    format: 'macho',
    arch: MACHO_CPU[cputype] || `macho-cpu-${hex(cputype)}`,
    kind: MACHO_TYPE[filetype] || `macho-type-${filetype}`,
    exports,
    needed,
    minOs,
  };
}

function describeFat(buf) {
  const r = reader(buf, false, 'Mach-O universal');
  const wide = r.u32(0) === 0xcafebabf; // fat_arch_64 entries
  const count = r.u32(4);
  // Java class files also start with 0xcafebabe; their next word (the class version) is far above
  // any real slice count, which keeps them from being read as a list of slices.
  if (count === 0 || count > 32) fail(`Mach-O universal: ${count} slices is implausible (is this a Java class file?)`);
  const slices = [];
  for (let i = 0; i < count; i++) {
    const a = 8 + i * (wide ? 32 : 20);
    const offset = wide ? r.u64(a + 8) : r.u32(a + 8);
    const size = wide ? r.u64(a + 16) : r.u32(a + 12);
    r.need(offset, size);
    const slice = buf.subarray(offset, offset + size);
    // Only thin 64-bit slices: this also rules out a fat file nested in itself.
    if (slice.length < 4 || slice.readUInt32LE(0) !== 0xfeedfacf) fail(`Mach-O universal: slice ${i} is not a 64-bit Mach-O`);
    slices.push(describeMachO(slice));
  }
  // The universal file as a whole: what every slice exports, anything any slice needs, the newest OS any slice requires.
  const newest = slices.map((s) => s.minOs).filter(Boolean).sort(compareVersions).pop();
  return {
    format: 'macho',
    arch: 'universal',
    kind: [...new Set(slices.map((s) => s.kind))].join('+'),
    exports: slices[0].exports.filter((name) => slices.every((s) => s.exports.includes(name))),
    needed: [...new Set(slices.flatMap((s) => s.needed))],
    minOs: newest,
    slices,
  };
}

// ---------------------------------------------------------------------------------------------
// PE32+ (Windows x64 and arm64).

const PE_MACHINE = { 0x14c: 'ia32', 0x1c4: 'arm', 0x8664: 'x64', 0xaa64: 'arm64' };

function describePe(buf) {
  const r = reader(buf, true, 'PE');
  const pe = r.u32(0x3c); // e_lfanew
  if (r.u32(pe) !== 0x00004550) fail('PE: no "PE\\0\\0" signature at e_lfanew (a DOS program, not a Windows DLL)');
  const machine = r.u16(pe + 4);
  const nsections = r.u16(pe + 6);
  const optSize = r.u16(pe + 20);
  const characteristics = r.u16(pe + 22);
  const opt = pe + 24;
  const magic = r.u16(opt);
  if (magic === 0x10b) fail('PE: 32-bit (PE32) images are not supported, only PE32+');
  if (magic !== 0x20b) fail(`PE: unknown optional header magic ${hex(magic)}`);
  const imageBase = r.u64(opt + 24);
  const ndirs = r.u32(opt + 108);
  /** RVA of data directory i (0 export, 1 import, 13 delay import), or 0 when the image has none. */
  const directory = (i) => (i < ndirs && 112 + i * 8 + 8 <= optSize ? r.u32(opt + 112 + i * 8) : 0);

  const sections = [];
  for (let i = 0, h = opt + optSize; i < nsections; i++, h += 40) {
    sections.push({ va: r.u32(h + 12), vsize: r.u32(h + 8), rawSize: r.u32(h + 16), raw: r.u32(h + 20) });
  }
  /** File offset of an RVA, and the end of its section's bytes in the file (so strings stay inside it). */
  const locate = (rva, what) => {
    const s = sections.find((x) => rva >= x.va && rva < x.va + Math.max(x.vsize, x.rawSize));
    if (!s) fail(`PE: ${what} (RVA ${hex(rva)}) is in no section`);
    if (rva - s.va >= s.rawSize) fail(`PE: ${what} (RVA ${hex(rva)}) is in uninitialised data`);
    return { off: s.raw + (rva - s.va), end: s.raw + s.rawSize };
  };
  const stringAt = (rva, what) => {
    const { off, end } = locate(rva, what);
    return r.str(off, end);
  };

  const exports = [];
  const exportDir = directory(0);
  if (exportDir) {
    const e = locate(exportDir, 'export directory').off;
    const count = r.u32(e + 24); // exports by name; ones by ordinal only have no name to list
    const names = count > 0 ? locate(r.u32(e + 32), 'export name table').off : 0;
    r.need(names, count * 4);
    for (let i = 0; i < count; i++) exports.push(stringAt(r.u32(names + i * 4), 'export name'));
  }

  // Ordinary imports, then delay-loaded ones (node-gyp's win_delay_load_hook puts node.exe there).
  // Both tables end with an all-zero entry; a missing one runs into the end of the file and fails.
  const needed = [];
  const importDir = directory(1);
  if (importDir) {
    for (let d = locate(importDir, 'import directory').off; ; d += 20) {
      if (r.u32(d) === 0 && r.u32(d + 12) === 0 && r.u32(d + 16) === 0) break;
      needed.push(stringAt(r.u32(d + 12), 'imported DLL name'));
    }
  }
  const delayDir = directory(13);
  if (delayDir) {
    for (let d = locate(delayDir, 'delay-import directory').off; ; d += 32) {
      const name = r.u32(d + 4);
      if (name === 0) break;
      // Attribute bit 0 clear is the old (VC6) layout, where the name is a VA rather than an RVA.
      needed.push(stringAt(r.u32(d) & 1 ? name : name - imageBase, 'delay-imported DLL name'));
    }
  }

  return {
    format: 'pe',
    arch: PE_MACHINE[machine] || `pe-machine-${hex(machine)}`,
    kind: characteristics & 0x2000 ? 'dll' : 'executable',
    exports,
    needed: [...new Set(needed)],
  };
}

// ---------------------------------------------------------------------------------------------

/**
 * Describe a shared library (or executable) from its bytes.
 * @returns {{format: 'elf'|'macho'|'pe', arch: string, kind: string, exports: string[], needed: string[],
 *   versions?: {library: string, names: string[]}[], minOs?: string, slices?: object[]}}
 * @throws {BinaryFormatError} for anything unrecognised, unsupported, truncated or corrupt.
 */
function describeBinary(input) {
  if (!(input instanceof Uint8Array)) fail('describeBinary needs a Buffer or Uint8Array');
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < 4) fail(`too short to be a binary (${buf.length} bytes)`);
  const be = buf.readUInt32BE(0);
  if (be === 0x7f454c46) return describeElf(buf);
  if (be === 0xcffaedfe) return describeMachO(buf);
  if (be === 0xcefaedfe) fail('Mach-O: 32-bit files are not supported');
  if (be === 0xfeedfacf || be === 0xfeedface) fail('Mach-O: big-endian files are not supported');
  if (be === 0xcafebabe || be === 0xcafebabf) return describeFat(buf);
  if (buf[0] === 0x4d && buf[1] === 0x5a) return describePe(buf); // "MZ"
  fail(`not an ELF, Mach-O or PE file (starts with ${buf.subarray(0, 4).toString('hex')})`);
}

/** Numeric, component-wise: "2.3.2" < "2.28", "10.15" < "11.0". */
function compareVersions(a, b) {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0);
    if (d !== 0) return d;
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------
// What a prebuild in prebuilds/<platform>-<arch>/ must satisfy to load where we say it does.

// A prebuild may need no symbol version newer than the oldest glibc and macOS we support (glibc
// 2.28: what Node 18's own Linux binaries need; macOS 11.0: the oldest zig 0.11 can target, and
// Node 22's minimum; see docs/release.md).
const GLIBC_OLDEST = '2.28';
const MACOS_OLDEST = { x64: '11.0', arm64: '11.0' };
const FORMAT_OF = { linux: 'elf', darwin: 'macho', win32: 'pe' };
const KINDS_OF = { linux: ['shared'], darwin: ['bundle', 'dylib'], win32: ['dll'] };

const versionNames = (d) => (d.versions || []).flatMap((v) => v.names);
const list = (names) => names.join(', ');

/**
 * One row per rule: the targets it applies to ('all', a platform, or a Linux libc), and a check
 * returning a problem, or nothing. t is { platform, arch, libc }.
 */
const RULES = [
  ['all', (d, t) => d.format !== FORMAT_OF[t.platform] && `is ${d.format}, but ${t.platform} loads ${FORMAT_OF[t.platform]}`],
  ['all', (d, t) => d.arch !== t.arch && `is built for ${d.arch}, but sits in the ${t.arch} folder`],
  ['all', (d, t) => !KINDS_OF[t.platform].includes(d.kind) && `has file type "${d.kind}", but a loadable library there is ${KINDS_OF[t.platform].join(' or ')}`],
  ['all', (d, t) => {
    // Mach-O symbol tables keep the C compiler's leading underscore.
    const symbol = `${t.platform === 'darwin' ? '_' : ''}napi_register_module_v1`;
    return !d.exports.includes(symbol) && `does not export ${symbol}, so Node cannot register it`;
  }],
  // A CUDA build must never leak into a prebuild: it would fail to load on every machine without the CUDA runtime.
  ['all', (d) => {
    const cuda = d.needed.filter((n) => /cudart|libcuda|nvcuda/i.test(n));
    return cuda.length > 0 && `needs CUDA (${list(cuda)})`;
  }],
  ['linux', (d, t) => !t.libc && 'has no glibc/musl tag in its name, so node-gyp-build would load it under both'],
  // libstdc++/libc++ must be linked in statically: the ones on users' machines may be too old, or absent (Alpine).
  ['linux', (d) => {
    const cxx = d.needed.filter((n) => /^lib(std)?c\+\+/.test(n));
    return cxx.length > 0 && `needs a shared C++ runtime (${list(cxx)})`;
  }],
  ['glibc', (d) => {
    const newer = versionNames(d).filter((n) => n.startsWith('GLIBC_') && !(/^GLIBC_[\d.]+$/.test(n) && compareVersions(n.slice(6), GLIBC_OLDEST) <= 0));
    return newer.length > 0 && `needs ${list([...new Set(newer)])}, newer than GLIBC_${GLIBC_OLDEST}`;
  }],
  ['glibc', (d) => {
    const cxx = versionNames(d).filter((n) => /^(GLIBCXX|CXXABI)_/.test(n));
    return cxx.length > 0 && `needs C++ runtime symbol versions (${list([...new Set(cxx)])})`;
  }],
  ['musl', (d) => {
    const glibc = versionNames(d).filter((n) => n.startsWith('GLIBC_'));
    return glibc.length > 0 && `is tagged musl but needs glibc (${list([...new Set(glibc)])})`;
  }],
  ['darwin', (d, t) => {
    const oldest = MACOS_OLDEST[t.arch];
    if (!d.minOs) return 'records no minimum macOS version (no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX)';
    if (!/^\d+(\.\d+)*$/.test(d.minOs)) return `is built for ${d.minOs}, not macOS`;
    return compareVersions(d.minOs, oldest) > 0 && `needs macOS ${d.minOs}, but ${t.platform}-${t.arch} must load on macOS ${oldest}`;
  }],
];

/**
 * Problems (strings; none means fine) with one prebuild, e.g.
 * checkPrebuild('linux-x64', 'node.napi.glibc.node', describeBinary(bytes)).
 * platformArchDir may be a path; only its last part counts.
 */
function checkPrebuild(platformArchDir, fileName, description) {
  const dir = path.basename(platformArchDir);
  const m = /^(linux|darwin|win32)-(x64|arm64)$/.exec(dir);
  if (!m) return [`"${dir}" is not a prebuild folder we ship (linux, darwin or win32, then -x64 or -arm64)`];
  const libc = (/\.(glibc|musl)\.node$/.exec(fileName) || [])[1];
  const target = { platform: m[1], arch: m[2], libc };
  return RULES.filter(([scope]) => scope === 'all' || scope === target.platform || (target.platform === 'linux' && scope === libc))
    .map(([, check]) => check(description, target))
    .filter(Boolean);
}

module.exports = { describeBinary, checkPrebuild, compareVersions, BinaryFormatError };

if (require.main === module) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error('usage: node scripts/lib/binary-format.cjs FILE...');
    process.exit(2);
  }
  let bad = false;
  for (const file of files) {
    try {
      const d = describeBinary(fs.readFileSync(file));
      const short = (x) => ({
        format: x.format,
        arch: x.arch,
        kind: x.kind,
        needed: x.needed,
        ...(x.versions && x.versions.length ? { versions: Object.fromEntries(x.versions.map((v) => [v.library, v.names])) } : {}),
        ...(x.minOs ? { minOs: x.minOs } : {}),
        exports: x.exports.length,
        registers: x.exports.includes('napi_register_module_v1') || x.exports.includes('_napi_register_module_v1'),
      });
      const summary = { file, ...short(d), ...(d.slices ? { slices: d.slices.map(short) } : {}) };
      const dir = path.basename(path.dirname(path.resolve(file)));
      if (/^(linux|darwin|win32)-/.test(dir)) {
        summary.problems = checkPrebuild(dir, path.basename(file), d);
        bad = bad || summary.problems.length > 0;
      }
      console.log(JSON.stringify(summary));
    } catch (err) {
      bad = true;
      console.log(JSON.stringify({ file, error: err.message }));
    }
  }
  process.exitCode = bad ? 1 : 0;
}
