// The prebuilt addons we ship, checked from their headers: each must be the right format and
// architecture for its prebuilds/<platform>-<arch>/ folder, register with N-API and need nothing
// that is missing or too new on the oldest systems we support (glibc 2.28, no shared C++ runtime,
// no CUDA, macOS 11.0). The parser and the rules get their own tests first, including ones
// showing that each rule does fire, and that corrupt files give clear errors rather than hangs.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface Description {
  format: 'elf' | 'macho' | 'pe';
  arch: string;
  kind: string;
  exports: string[];
  needed: string[];
  versions?: { library: string; names: string[] }[];
  minOs?: string;
  slices?: Description[];
}
interface BinaryFormat {
  describeBinary(bytes: Uint8Array): Description;
  checkPrebuild(platformArchDir: string, fileName: string, description: Description): string[];
  compareVersions(a: string, b: string): number;
  BinaryFormatError: new (message: string) => Error;
}

const root = join(__dirname, '..');
const modulePath = join(root, 'scripts', 'lib', 'binary-format.cjs');
const { describeBinary, checkPrebuild, compareVersions, BinaryFormatError } = createRequire(__filename)(modulePath) as BinaryFormat;

/** What `npm run build:prebuilds:all` must produce, in node-gyp-build's layout. */
const TARGETS = [
  'darwin-arm64/node.napi.node',
  'darwin-x64/node.napi.node',
  'linux-arm64/node.napi.glibc.node',
  'linux-arm64/node.napi.musl.node',
  'linux-x64/node.napi.glibc.node',
  'linux-x64/node.napi.musl.node',
  'win32-arm64/node.napi.node',
  'win32-x64/node.napi.node',
];
const prebuildsDir = join(root, 'prebuilds');
const found = existsSync(prebuildsDir)
  ? readdirSync(prebuildsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) => readdirSync(join(prebuildsDir, d.name)).filter((f) => f.endsWith('.node')).map((f) => `${d.name}/${f}`))
      .sort()
  : [];

const check = (target: string, d: Description) => {
  const [dir, file] = target.split('/');
  return checkPrebuild(dir, file, d);
};

/** The error describeBinary throws for `bytes` (failing the test if it returns or throws anything else). */
function rejection(bytes: Uint8Array): Error {
  try {
    describeBinary(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(BinaryFormatError);
    return err as Error;
  }
  throw new Error('describeBinary accepted a corrupt file');
}

// --- Small hand-made Mach-O files, so Mach-O and universal parsing are tested on every host. ---

const CPU = { x64: 0x01000007, arm64: 0x0100000c };

/** A thin Mach-O 64 dylib: LC_BUILD_VERSION (macOS), LC_LOAD_DYLIB, and LC_SYMTAB defining `symbols` as externals. */
function machO(arch: keyof typeof CPU, minOs: [number, number], symbols: string[]): Buffer {
  const build = Buffer.alloc(24);
  build.writeUInt32LE(0x32, 0);
  build.writeUInt32LE(24, 4);
  build.writeUInt32LE(1, 8); // PLATFORM_MACOS
  build.writeUInt32LE((minOs[0] << 16) | (minOs[1] << 8), 12);
  const lib = Buffer.from('/usr/lib/libSystem.B.dylib\0');
  const dylib = Buffer.alloc(24 + lib.length + ((8 - (lib.length % 8)) % 8));
  dylib.writeUInt32LE(0xc, 0);
  dylib.writeUInt32LE(dylib.length, 4);
  dylib.writeUInt32LE(24, 8);
  lib.copy(dylib, 24);
  const symtab = Buffer.alloc(24);
  const sizeofcmds = build.length + dylib.length + symtab.length;
  const symoff = 32 + sizeofcmds;
  const strings = Buffer.from(`\0${symbols.map((s) => `${s}\0`).join('')}`);
  const nlists = Buffer.alloc(16 * symbols.length);
  let strx = 1;
  symbols.forEach((s, i) => {
    nlists.writeUInt32LE(strx, i * 16);
    nlists[i * 16 + 4] = 0x0f; // N_SECT | N_EXT
    nlists[i * 16 + 5] = 1;
    strx += Buffer.byteLength(s) + 1;
  });
  symtab.writeUInt32LE(0x2, 0);
  symtab.writeUInt32LE(24, 4);
  symtab.writeUInt32LE(symoff, 8);
  symtab.writeUInt32LE(symbols.length, 12);
  symtab.writeUInt32LE(symoff + nlists.length, 16);
  symtab.writeUInt32LE(strings.length, 20);
  const header = Buffer.alloc(32);
  header.writeUInt32LE(0xfeedfacf, 0);
  header.writeUInt32LE(CPU[arch], 4);
  header.writeUInt32LE(6, 12); // MH_DYLIB
  header.writeUInt32LE(3, 16);
  header.writeUInt32LE(sizeofcmds, 20);
  return Buffer.concat([header, build, dylib, symtab, nlists, strings]);
}

/** A universal file holding `slices` at 4 KiB-aligned offsets. */
function fat(slices: Buffer[]): Buffer {
  const header = Buffer.alloc(8 + 20 * slices.length);
  header.writeUInt32BE(0xcafebabe, 0);
  header.writeUInt32BE(slices.length, 4);
  const parts: Buffer[] = [header];
  let offset = 4096;
  slices.forEach((s, i) => {
    const padded = Buffer.alloc(Math.ceil(s.length / 4096) * 4096);
    s.copy(padded);
    header.writeUInt32BE(s.readUInt32LE(4), 8 + i * 20);
    header.writeUInt32BE(offset, 8 + i * 20 + 8);
    header.writeUInt32BE(s.length, 8 + i * 20 + 12);
    header.writeUInt32BE(12, 8 + i * 20 + 16);
    parts.push(Buffer.alloc(offset - parts.reduce((n, p) => n + p.length, 0)), padded);
    offset += padded.length;
  });
  return Buffer.concat(parts);
}

describe('describeBinary', () => {
  const bytes = readFileSync(process.execPath);
  const whole = describeBinary(bytes);
  const host = whole.slices?.find((s) => s.arch === process.arch) ?? whole;
  const underscore = process.platform === 'darwin' ? '_' : '';

  it('reads the host node binary as the format and architecture it runs as', () => {
    expect(host.format).toBe(({ linux: 'elf', darwin: 'macho', win32: 'pe' } as Record<string, string>)[process.platform]);
    expect(host.arch).toBe(process.arch);
  });

  it('finds the N-API functions the host node exports to addons', () => {
    expect(host.exports).toContain(`${underscore}napi_create_object`);
    expect(host.exports).toContain(`${underscore}napi_module_register`);
    expect(host.exports).not.toContain(`${underscore}napi_register_module_v1`); // only addons define it
    expect(host.exports.every((s) => typeof s === 'string' && s.length > 0)).toBe(true);
  });

  const glibc = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header?.glibcVersionRuntime;
  it.runIf(process.platform === 'linux' && glibc)('lists the glibc symbol versions the host node needs, per library', () => {
    expect(host.needed).toContain('libc.so.6');
    const libc = host.versions?.find((v) => v.library === 'libc.so.6');
    expect(libc?.names.length).toBeGreaterThan(0);
    for (const name of libc?.names ?? []) expect(name).toMatch(/^GLIBC_(2\.[\d.]+|PRIVATE)$/);
    // Nothing can need a newer glibc than the one it is running on.
    const newest = libc!.names.filter((n) => /^GLIBC_[\d.]+$/.test(n)).map((n) => n.slice(6)).sort(compareVersions).pop()!;
    expect(compareVersions(newest, glibc!)).toBeLessThanOrEqual(0);
    // And a program is not a loadable addon: the rules say so.
    expect(checkPrebuild(`linux-${process.arch}`, 'node.napi.glibc.node', host).join('\n')).toMatch(/does not export napi_register_module_v1/);
  });

  it('reads hand-made Mach-O dylibs: arch, file type, dylibs, exports with their underscore, minimum macOS', () => {
    const d = describeBinary(machO('arm64', [11, 0], ['_napi_register_module_v1', '_helper']));
    expect(d).toEqual({
      format: 'macho', arch: 'arm64', kind: 'dylib', minOs: '11.0',
      needed: ['/usr/lib/libSystem.B.dylib'], exports: ['_napi_register_module_v1', '_helper'],
    });
    expect(check('darwin-arm64/node.napi.node', d)).toEqual([]);
    expect(describeBinary(machO('x64', [10, 13], [])).minOs).toBe('10.13');
  });

  it('reports each slice of a universal file, and the rules reject one in a single-arch folder', () => {
    const d = describeBinary(fat([machO('x64', [10, 15], ['_napi_register_module_v1', '_x']), machO('arm64', [12, 0], ['_napi_register_module_v1'])]));
    expect(d.slices?.map((s) => [s.arch, s.minOs])).toEqual([['x64', '10.15'], ['arm64', '12.0']]);
    expect(d).toMatchObject({ format: 'macho', arch: 'universal', minOs: '12.0', exports: ['_napi_register_module_v1'] });
    expect(check('darwin-x64/node.napi.node', d)).toEqual([expect.stringMatching(/built for universal/), expect.stringMatching(/macOS 12\.0/)]);
  });

  it('rejects empty, foreign, unsupported and corrupt headers with a clear error', () => {
    const header = (size: number, bytes: number[]) => Buffer.concat([Buffer.from(bytes), Buffer.alloc(size - bytes.length)]);
    const elf = (cls: number, data: number) => header(64, [0x7f, 0x45, 0x4c, 0x46, cls, data, 1]);
    const withSections = (shoff: bigint) => {
      const b = elf(2, 1);
      b.writeBigUInt64LE(shoff, 0x28);
      b.writeUInt16LE(64, 0x3a); // e_shentsize
      b.writeUInt16LE(3, 0x3c); // e_shnum
      return b;
    };
    const farSections = withSections(1_000_000n);
    const hugeSections = withSections(1n << 62n);
    const tinySectionHeaders = withSections(64n);
    tinySectionHeaders.writeUInt16LE(40, 0x3a);
    const stuckCommand = machO('x64', [10, 15], []);
    stuckCommand.writeUInt32LE(0, 32 + 4); // a load command of size 0 would never advance
    const longCommands = machO('x64', [10, 15], []);
    longCommands.writeUInt32LE(1 << 30, 20);
    const javaClass = header(16, [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 0x34]);
    const fatPastEnd = fat([machO('arm64', [11, 0], [])]);
    fatPastEnd.writeUInt32BE(1 << 20, 16);
    const fatInFat = fat([fat([machO('arm64', [11, 0], [])])]);
    const dosOnly = header(128, [0x4d, 0x5a]);
    dosOnly.writeUInt32LE(0x40, 0x3c);
    const peFarAway = header(64, [0x4d, 0x5a]);
    peFarAway.writeUInt32LE(0x10000, 0x3c);
    const pe32 = header(256, [0x4d, 0x5a]);
    pe32.writeUInt32LE(0x40, 0x3c);
    pe32.write('PE\0\0', 0x40, 'latin1');
    pe32.writeUInt16LE(0x14c, 0x44);
    pe32.writeUInt16LE(0x10b, 0x40 + 24);

    const cases: [string, Uint8Array, RegExp][] = [
      ['empty', Buffer.alloc(0), /too short to be a binary \(0 bytes\)/],
      ['a shell script', Buffer.from('#!/bin/sh\necho hi\n'), /not an ELF, Mach-O or PE file \(starts with 23212f62\)/],
      ['ELF, 64 bytes cut to 20', elf(2, 1).subarray(0, 20), /ELF: truncated/],
      ['32-bit ELF', elf(1, 1), /ELF: only 64-bit/],
      ['big-endian ELF', elf(2, 2), /ELF: only little-endian/],
      ['ELF with section headers past the end', farSections, /ELF: truncated or corrupt/],
      ['ELF with a 2^62 section header offset', hugeSections, /ELF: corrupt \(64-bit value/],
      ['ELF without section headers', elf(2, 1), /no section headers/],
      ['ELF with 40-byte section headers', tinySectionHeaders, /section header size 40 is below/],
      ['32-bit Mach-O', header(32, [0xce, 0xfa, 0xed, 0xfe]), /Mach-O: 32-bit/],
      ['big-endian Mach-O', header(32, [0xfe, 0xed, 0xfa, 0xcf]), /Mach-O: big-endian/],
      ['Mach-O load command of size 0', stuckCommand, /Mach-O: load command 0 has a bad size 0/],
      ['Mach-O commands longer than the file', longCommands, /Mach-O: truncated or corrupt/],
      ['a Java class file', javaClass, /Java class/],
      ['universal slice past the end', fatPastEnd, /Mach-O universal: truncated or corrupt/],
      ['universal file inside a universal file', fatInFat, /slice 0 is not a 64-bit Mach-O/],
      ['DOS program', dosOnly, /no "PE\\0\\0" signature/],
      ['PE header past the end', peFarAway, /PE: truncated or corrupt/],
      ['32-bit PE', pe32, /PE32\) images are not supported/],
      ['a Uint8Array cut short', new Uint8Array(machO('arm64', [11, 0], ['_a']).subarray(0, 100)), /Mach-O: /],
    ];
    for (const [what, bytes, message] of cases) {
      expect(rejection(bytes).message, what).toMatch(message);
    }
    expect(() => describeBinary('MZ' as unknown as Buffer)).toThrow(/needs a Buffer/);
  });

  it('truncating or scribbling over real binaries gives a result or a BinaryFormatError, never a crash or a hang', () => {
    // In a child process with a time limit: a parser loop that never ends must fail this test, not freeze the run.
    const files = [...found.map((f) => join(prebuildsDir, f)), process.execPath];
    const script = `
      const { readFileSync } = require('fs');
      const [modulePath, ...files] = process.argv.slice(1);
      const { describeBinary, BinaryFormatError } = require(modulePath);
      let seed = 12345;
      const rand = (n) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * n);
      const results = [];
      for (const file of files) {
        const buf = readFileSync(file);
        const r = { file, whole: false, parsed: 0, rejected: 0, unexpected: [] };
        const attempt = (bytes, what) => {
          try { describeBinary(bytes); r.parsed++; return true; } catch (e) {
            if (e instanceof BinaryFormatError) r.rejected++;
            else if (r.unexpected.length < 5) r.unexpected.push(what + ': ' + (e && e.stack || e));
            return false;
          }
        };
        r.whole = attempt(buf, 'the whole file');
        const cuts = new Set();
        for (let n = 0; n < Math.min(buf.length, 4096); n++) cuts.add(n);
        for (let k = 1; k < 512; k++) cuts.add(Math.floor((buf.length * k) / 512));
        for (let n = Math.max(0, buf.length - 4096); n < buf.length; n += 8) cuts.add(n);
        for (const n of cuts) attempt(buf.subarray(0, n), 'cut at ' + n);
        // Overwrite a byte or a 32-bit word in the headers, the end (ELF section headers) or anywhere.
        if (buf.length <= 16 << 20) {
          const regions = [[0, Math.min(buf.length, 65536)], [Math.max(0, buf.length - 4096), buf.length], [0, buf.length]];
          for (let k = 0; k < 2000; k++) {
            const [lo, hi] = regions[k % 3];
            const i = Math.min(lo + rand(hi - lo), buf.length - 4);
            const saved = buf.readUInt32LE(i);
            if (k % 2) buf[i] ^= 1 + rand(255); else buf.writeUInt32LE(rand(2) ? 0xffffffff - rand(64) : rand(2 ** 31), i);
            attempt(buf, 'bytes at ' + i + ' set to ' + buf.readUInt32LE(i).toString(16));
            buf.writeUInt32LE(saved, i);
          }
        }
        results.push(r);
      }
      console.log(JSON.stringify(results));
    `;
    const run = spawnSync(process.execPath, ['-e', script, modulePath, ...files], { encoding: 'utf8', timeout: 90_000, maxBuffer: 1 << 24 });
    expect(run.signal, `the parser hung or was killed: ${run.stderr}`).toBeNull();
    expect(run.status, run.stderr).toBe(0);
    const results = JSON.parse(run.stdout) as { file: string; whole: boolean; parsed: number; rejected: number; unexpected: string[] }[];
    expect(results).toHaveLength(files.length);
    for (const r of results) {
      expect(r.unexpected, r.file).toEqual([]);
      expect(r.whole, `${r.file} itself should parse`).toBe(true);
      expect(r.rejected, r.file).toBeGreaterThan(1000);
    }
  });
});

describe('checkPrebuild rules', () => {
  /** A description that satisfies every rule for `target`; each case below breaks exactly one rule. */
  function good(target: string): Description {
    const [platform, arch] = target.split('/')[0].split('-');
    if (platform === 'darwin') {
      return { format: 'macho', arch, kind: 'bundle', exports: ['_napi_register_module_v1'], needed: ['/usr/lib/libSystem.B.dylib'], minOs: '11.0' };
    }
    if (platform === 'win32') return { format: 'pe', arch, kind: 'dll', exports: ['napi_register_module_v1'], needed: ['node.exe', 'KERNEL32.dll'] };
    if (target.includes('.musl.')) return { format: 'elf', arch, kind: 'shared', exports: ['napi_register_module_v1'], needed: ['libc.so'], versions: [] };
    return {
      format: 'elf', arch, kind: 'shared', exports: ['napi_register_module_v1'], needed: ['libm.so.6', 'libc.so.6'],
      // 2.3.4 < 2.28 only when compared numerically, not as strings.
      versions: [{ library: 'libc.so.6', names: ['GLIBC_2.2.5', 'GLIBC_2.3.4', 'GLIBC_2.17', 'GLIBC_2.28'] }, { library: 'libm.so.6', names: ['GLIBC_2.27'] }],
    };
  }
  const libc = (d: Description) => d.versions!.find((v) => v.library === 'libc.so.6')!.names;

  it('accept a good description of every target', () => {
    for (const target of TARGETS) expect(check(target, good(target)), target).toEqual([]);
    expect(check('darwin-x64/node.napi.node', { ...good('darwin-x64/x'), minOs: '10.13' })).toEqual([]);
  });

  const cases: [string, string, (d: Description) => void, RegExp][] = [
    ['glibc newer than 2.28', 'linux-x64/node.napi.glibc.node', (d) => libc(d).push('GLIBC_2.29', 'GLIBC_2.34'), /needs GLIBC_2\.29, GLIBC_2\.34, newer than GLIBC_2\.28/],
    ['a private glibc symbol', 'linux-arm64/node.napi.glibc.node', (d) => libc(d).push('GLIBC_PRIVATE'), /needs GLIBC_PRIVATE/],
    ['GLIBCXX versions', 'linux-x64/node.napi.glibc.node', (d) => d.versions!.push({ library: 'libstdc++.so.6', names: ['GLIBCXX_3.4.30'] }), /C\+\+ runtime symbol versions \(GLIBCXX_3\.4\.30\)/],
    ['CXXABI versions', 'linux-arm64/node.napi.glibc.node', (d) => d.versions!.push({ library: 'libstdc++.so.6', names: ['CXXABI_1.3'] }), /\(CXXABI_1\.3\)/],
    ['libstdc++ needed (glibc)', 'linux-arm64/node.napi.glibc.node', (d) => d.needed.push('libstdc++.so.6'), /needs a shared C\+\+ runtime \(libstdc\+\+\.so\.6\)/],
    ['libc++ needed (musl)', 'linux-x64/node.napi.musl.node', (d) => d.needed.push('libc++.so.1'), /needs a shared C\+\+ runtime \(libc\+\+\.so\.1\)/],
    ['glibc versions in a musl build', 'linux-arm64/node.napi.musl.node', (d) => d.versions!.push({ library: 'libc.so.6', names: ['GLIBC_2.2.5'] }), /tagged musl but needs glibc \(GLIBC_2\.2\.5\)/],
    ['an untagged Linux file', 'linux-x64/node.napi.node', () => {}, /no glibc\/musl tag/],
    ['CUDA runtime (Linux)', 'linux-x64/node.napi.glibc.node', (d) => d.needed.push('libcudart.so.12'), /needs CUDA \(libcudart\.so\.12\)/],
    ['CUDA driver (Linux musl)', 'linux-x64/node.napi.musl.node', (d) => d.needed.push('libcuda.so.1'), /needs CUDA \(libcuda\.so\.1\)/],
    ['CUDA runtime (macOS)', 'darwin-arm64/node.napi.node', (d) => d.needed.push('@rpath/libcudart.12.dylib'), /needs CUDA/],
    ['CUDA runtime and driver (Windows)', 'win32-x64/node.napi.node', (d) => d.needed.push('cudart64_12.dll', 'nvcuda.dll'), /needs CUDA \(cudart64_12\.dll, nvcuda\.dll\)/],
    ['wrong format', 'linux-x64/node.napi.glibc.node', (d) => { d.format = 'pe'; }, /is pe, but linux loads elf/],
    ['wrong arch', 'darwin-arm64/node.napi.node', (d) => { d.arch = 'x64'; }, /built for x64, but sits in the arm64 folder/],
    ['an executable', 'win32-arm64/node.napi.node', (d) => { d.kind = 'executable'; }, /file type "executable"/],
    ['no registration symbol', 'win32-x64/node.napi.node', (d) => { d.exports = ['napi_create_object']; }, /does not export napi_register_module_v1/],
    ['Mach-O registration without its underscore', 'darwin-x64/node.napi.node', (d) => { d.exports = ['napi_register_module_v1']; }, /does not export _napi_register_module_v1/],
    ['macOS x64 newer than 11.0', 'darwin-x64/node.napi.node', (d) => { d.minOs = '11.7'; }, /needs macOS 11\.7, but darwin-x64 must load on macOS 11\.0/],
    ['macOS arm64 newer than 11.0', 'darwin-arm64/node.napi.node', (d) => { d.minOs = '11.1'; }, /needs macOS 11\.1, but darwin-arm64 must load on macOS 11\.0/],
    ['no minimum macOS', 'darwin-arm64/node.napi.node', (d) => { delete d.minOs; }, /no minimum macOS version/],
    ['built for iOS', 'darwin-arm64/node.napi.node', (d) => { d.minOs = 'ios 14.0'; }, /built for ios 14\.0, not macOS/],
  ];
  it.each(cases)('report %s', (_, target, breakIt, message) => {
    const d = structuredClone(good(target));
    breakIt(d);
    const problems = check(target, d);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('report a folder we do not ship', () => {
    expect(checkPrebuild('freebsd-x64', 'node.napi.node', good('linux-x64/node.napi.glibc.node'))).toEqual([expect.stringMatching(/"freebsd-x64" is not a prebuild folder/)]);
  });

  const systemLibstdcxx = ['/usr/lib/x86_64-linux-gnu/libstdc++.so.6', '/usr/lib/aarch64-linux-gnu/libstdc++.so.6', '/usr/lib64/libstdc++.so.6'].find(existsSync);
  it('flag the system libstdc++ as a glibc prebuild (real glibc versions) and as a musl one', (ctx) => {
    if (!systemLibstdcxx) {
      console.warn('[prebuilds.test] SKIPPED: no glibc libstdc++.so.6 on this host');
      return ctx.skip('no glibc libstdc++.so.6 on this host');
    }
    const d = describeBinary(readFileSync(systemLibstdcxx));
    const target = `linux-${d.arch}`;
    const glibc = d.versions!.flatMap((v) => v.names).filter((n) => /^GLIBC_[\d.]+$/.test(n));
    expect(glibc.length).toBeGreaterThan(0);
    const tooNew = [...new Set(glibc.filter((n) => compareVersions(n.slice(6), '2.28') > 0))];
    const asGlibc = checkPrebuild(target, 'node.napi.glibc.node', d).join('\n');
    expect(asGlibc).toMatch(/does not export napi_register_module_v1/);
    for (const name of tooNew) expect(asGlibc).toContain(name);
    expect(checkPrebuild(target, 'node.napi.musl.node', d).join('\n')).toMatch(/tagged musl but needs glibc \(GLIBC_/);
  });

  // The CUDA rule on a real file: a library nvcc links against the shared CUDA runtime (as a CUDA
  // build would, without the static cudart that npm run build:cuda uses) needs libcudart.
  it('flag a library linked against the shared CUDA runtime (built here with nvcc -cudart shared)', (ctx) => {
    const { findNvcc } = createRequire(__filename)(join(root, 'scripts', 'build-cuda.cjs')) as { findNvcc: () => { nvcc: string | null } };
    const { nvcc } = findNvcc();
    if (process.platform !== 'linux' || !nvcc) {
      const reason = process.platform !== 'linux' ? 'not on Linux' : 'no nvcc (the CUDA toolkit; CI installs it)';
      if (process.env.CI && nvcc == null) throw new Error(`CI needs nvcc for this check: ${reason}`);
      console.warn(`[prebuilds.test] SKIPPED the CUDA runtime check: ${reason}`);
      return ctx.skip(reason);
    }
    const dir = mkdtempSync(join(tmpdir(), 'kintsugi-cudart-'));
    writeFileSync(join(dir, 'probe.cu'), '__global__ void k() {}\nextern "C" void launch() { k<<<1, 1>>>(); }\n');
    const r = spawnSync(nvcc, ['-shared', '-Xcompiler', '-fPIC', '-cudart', 'shared', '-o', join(dir, 'probe.so'), join(dir, 'probe.cu')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const d = describeBinary(readFileSync(join(dir, 'probe.so')));
    expect(d.needed.some((n) => /^libcudart\.so/.test(n)), d.needed.join(', ')).toBe(true);
    expect(checkPrebuild(`linux-${d.arch}`, 'node.napi.glibc.node', d).join('\n')).toMatch(/needs CUDA \(libcudart\.so\.\d+\)/);
  }, 120_000);

  const gppAddon = join(root, 'build', 'Release', 'kintsugi.node');
  it('flag the addon as g++ builds it locally (it needs GLIBCXX_ versions from the shared libstdc++)', (ctx) => {
    if (process.platform !== 'linux' || !existsSync(gppAddon)) {
      const reason = process.platform !== 'linux' ? 'not on Linux' : `${gppAddon} is absent (npm run build:native builds it)`;
      console.warn(`[prebuilds.test] SKIPPED g++ addon check: ${reason}`);
      return ctx.skip(reason);
    }
    const d = describeBinary(readFileSync(gppAddon));
    expect(d).toMatchObject({ format: 'elf', arch: process.arch, kind: 'shared' });
    expect(d.exports).toContain('napi_register_module_v1');
    const problems = checkPrebuild(`linux-${process.arch}`, 'node.napi.glibc.node', d).join('\n');
    expect(problems).toMatch(/C\+\+ runtime symbol versions \(.*GLIBCXX_3\.4/);
    expect(problems).toMatch(/needs a shared C\+\+ runtime \(libstdc\+\+\.so\.6\)/);
  });
});

describe('shipped prebuilds', () => {
  if (found.length === 0) {
    const reason = 'no prebuilds/*/*.node found; run `npm run build:prebuilds:all` to build all 8 targets';
    if (process.env.CI) {
      it('are present (required when CI is set)', () => {
        throw new Error(`${reason} before the tests (CI is set, so missing prebuilds fail)`);
      });
    } else {
      console.warn(`[prebuilds.test] SKIPPED shipped prebuilds: ${reason}`);
      it.skip('are exactly the 8 targets, each loadable where promised', () => {});
    }
    return;
  }

  it('are exactly the 8 targets', () => {
    expect(found).toEqual(TARGETS);
  });

  for (const target of [...new Set([...TARGETS, ...found])].sort()) {
    it(`${target} loads where promised`, () => {
      expect(found, `${target} is missing; run \`npm run build:prebuilds:all\``).toContain(target);
      expect(check(target, describeBinary(readFileSync(join(prebuildsDir, target))))).toEqual([]);
    });
  }
});
