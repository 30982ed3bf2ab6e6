/**
 * What request data may choose and what it may not: CGI params built from an HTTP request (httpoxy, header
 * names, CONTENT_*), the PHP gateway's script mapping (.., symlinks, PATH_INFO, control characters), the CGI
 * response head and client addresses. No server needed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mapScript, parseAddress, parseAddresses, parseResponseHead, requestParams } from '../../lib/index.js';

describe('requestParams', () => {
  const base = { method: 'post', url: '/a/b?x=1&y=2', remoteAddress: '10.0.0.9', remotePort: 5555 };

  it('builds the standard variables from the request', () => {
    const p = new Map(requestParams({ ...base, rawHeaders: ['Host', 'example.org', 'Content-Type', 'text/plain', 'Content-Length', '3'] }));
    expect(p.get('REQUEST_METHOD')).toBe('POST');
    expect(p.get('REQUEST_URI')).toBe('/a/b?x=1&y=2');
    expect(p.get('QUERY_STRING')).toBe('x=1&y=2');
    expect(p.get('REMOTE_ADDR')).toBe('10.0.0.9');
    expect(p.get('REMOTE_PORT')).toBe('5555');
    expect(p.get('CONTENT_TYPE')).toBe('text/plain');
    expect(p.get('CONTENT_LENGTH')).toBe('3');
    expect(p.get('HTTP_HOST')).toBe('example.org');
    // CONTENT_TYPE and CONTENT_LENGTH once each, not also as HTTP_*.
    expect(p.has('HTTP_CONTENT_TYPE')).toBe(false);
    expect(p.has('HTTP_CONTENT_LENGTH')).toBe(false);
    expect(p.has('HTTPS')).toBe(false);
  });

  it('drops Proxy (httpoxy) and header names that could pose as others', () => {
    const raw = ['Proxy', 'http://evil', 'X_Forwarded_For', 'spoof', 'X-Forwarded-For', 'real', 'Bad Name', 'v', 'X.Dot', 'v'];
    const p = new Map(requestParams({ ...base, rawHeaders: raw }));
    expect(p.has('HTTP_PROXY')).toBe(false);
    expect(p.get('HTTP_X_FORWARDED_FOR')).toBe('real');
    expect([...p.keys()].filter((k) => k.startsWith('HTTP_'))).toEqual(['HTTP_X_FORWARDED_FOR']);
  });

  it('never lets a header choose a name other than HTTP_*', () => {
    const raw = ['SCRIPT-FILENAME', '/etc/passwd', 'PHP-VALUE', 'auto_prepend_file=/x', 'Content-Length', '5', 'Content-Length', '7'];
    const p = requestParams({ ...base, rawHeaders: raw });
    const names = p.map(([n]) => n);
    expect(names).not.toContain('SCRIPT_FILENAME');
    expect(names).not.toContain('PHP_VALUE');
    expect(names).toContain('HTTP_SCRIPT_FILENAME');
    expect(names).toContain('HTTP_PHP_VALUE');
    expect(names.filter((n) => n === 'CONTENT_LENGTH')).toHaveLength(1);
  });

  it('joins repeated headers, Cookie with "; "', () => {
    const p = new Map(requestParams({ ...base, rawHeaders: [['Accept', 'a'], ['Accept', 'b'], ['Cookie', 'x=1'], ['Cookie', 'y=2']] }));
    expect(p.get('HTTP_ACCEPT')).toBe('a, b');
    expect(p.get('HTTP_COOKIE')).toBe('x=1; y=2');
  });

  it('marks HTTPS and takes a known body length over the header', () => {
    const p = new Map(requestParams({ ...base, https: true, contentLength: 99, rawHeaders: ['Content-Length', '5'] }));
    expect(p.get('HTTPS')).toBe('on');
    expect(p.get('REQUEST_SCHEME')).toBe('https');
    expect(p.get('SERVER_PORT')).toBe('443');
    expect(p.get('CONTENT_LENGTH')).toBe('99');
  });
});

describe('mapScript', () => {
  let root: string;
  let outside: string;
  const ext = ['.php'];

  beforeAll(() => {
    root = realpathSync(mkdtempSync(join(tmpdir(), 'cgiwire-root-')));
    outside = realpathSync(mkdtempSync(join(tmpdir(), 'cgiwire-out-')));
    mkdirSync(join(root, 'app'));
    mkdirSync(join(root, 'dir.php'));
    writeFileSync(join(root, 'index.php'), '');
    writeFileSync(join(root, 'app', 'index.php'), '');
    writeFileSync(join(root, 'app', 'a b.php'), '');
    writeFileSync(join(root, 'upload.jpg'), '');
    writeFileSync(join(outside, 'evil.php'), '');
    symlinkSync(join(outside, 'evil.php'), join(root, 'link.php'));
    symlinkSync(join(root, 'upload.jpg'), join(root, 'jpg.php'));
    symlinkSync(join(root, 'app', 'index.php'), join(root, 'alias.php'));
  });

  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('splits the path at the first script that exists', () => {
    expect(mapScript('/app/index.php/users/7', root, ext, 'index.php')).toEqual({
      scriptName: '/app/index.php', scriptFilename: join(root, 'app', 'index.php'), pathInfo: '/users/7',
    });
    expect(mapScript('/index.php', root, ext, 'index.php')?.pathInfo).toBe('');
    expect(mapScript('/app/', root, ext, 'index.php')?.scriptName).toBe('/app/index.php');
    expect(mapScript('/app/a%20b.php', root, ext, 'index.php')?.scriptFilename).toBe(join(root, 'app', 'a b.php'));
    // A directory named like a script is not one; a symlink to a script inside the root is.
    expect(mapScript('/dir.php', root, ext, 'index.php')).toBeNull();
    expect(mapScript('/alias.php', root, ext, 'index.php')?.scriptFilename).toBe(join(root, 'app', 'index.php'));
  });

  it('has nothing for paths with no script', () => {
    expect(mapScript('/upload.jpg', root, ext, 'index.php')).toBeNull();
    expect(mapScript('/missing.php', root, ext, 'index.php')).toBeNull();
    expect(mapScript('/upload.jpg/x.php', root, ext, 'index.php')).toBeNull();
  });

  it('refuses .. segments, plain or encoded', () => {
    for (const p of ['/../etc/passwd', '/app/../index.php', '/%2e%2e/x.php', '/app/%2E%2E/index.php', '/app/..']) {
      expect(() => mapScript(p, root, ext, 'index.php'), p).toThrow(/climbs/);
    }
  });

  it('refuses a script whose real path leaves the root or is not a script', () => {
    expect(() => mapScript('/link.php', root, ext, 'index.php')).toThrow(/outside the document root/);
    expect(() => mapScript('/jpg.php', root, ext, 'index.php')).toThrow(/not a script/);
  });

  it('refuses NUL, CR and LF and malformed escapes (CVE-2019-11043)', () => {
    for (const p of ['/index.php%00.jpg', '/index.php%0a', '/app/index.php/x%0d%0aY', '/%E0%A4%A', 'index.php']) {
      expect(() => mapScript(p, root, ext, 'index.php'), p).toThrow();
    }
  });
});

describe('parseResponseHead', () => {
  it('reads Status, repeated headers and the default reason phrase', () => {
    const h = parseResponseHead('Status: 404\r\nX-A: 1\r\nx-a: 2\nContent-Type:  text/html \r\n');
    expect(h.status).toBe(404);
    expect(h.statusText).toBe('Not Found');
    expect(h.headers['x-a']).toEqual(['1', '2']);
    expect(h.headers['content-type']).toBe('text/html');
    expect(h.rawHeaders).toEqual(['X-A', '1', 'x-a', '2', 'Content-Type', 'text/html']);
  });

  it('makes a Location without Status a 302 (RFC 3875, 6.2.3)', () => {
    expect(parseResponseHead('Location: http://x/\r\n').status).toBe(302);
    expect(parseResponseHead('Status: 301 Moved\r\nLocation: /y\r\n').status).toBe(301);
  });

  it('refuses lines that are not headers and bad or repeated Status', () => {
    expect(() => parseResponseHead('no colon here\r\n')).toThrow(/not "Name: value"/);
    expect(() => parseResponseHead(': empty name\r\n')).toThrow();
    expect(() => parseResponseHead('Bad Name: x\r\n')).toThrow();
    expect(() => parseResponseHead('Status: abc\r\n')).toThrow(/Status/);
    expect(() => parseResponseHead('Status: 200\r\nStatus: 404\r\n')).toThrow(/Status/);
  });

  it('refuses a status text with bytes an HTTP status line cannot carry, and keeps tabs and latin1', () => {
    for (const text of ['Not Found\x7f', 'a\x01b', 'a\x00']) {
      expect(() => parseResponseHead(`Status: 404 ${text}\r\n`), JSON.stringify(text)).toThrow(/Status/);
    }
    expect(parseResponseHead('Status: 200 Tr\xe8s\tbien\r\n').statusText).toBe('Tr\xe8s\tbien');
  });

  it('refuses a status below 200: a CGI response is final, 1xx are interim', () => {
    for (const status of ['100', '103 Early Hints', '199', '099', '000']) {
      expect(() => parseResponseHead(`Status: ${status}\r\n`), status).toThrow(/Status/);
    }
    expect(parseResponseHead('Status: 200\r\n').status).toBe(200);
  });
});

describe('addresses', () => {
  it('reads host:port, [v6]:port, a port, socket paths and lists', () => {
    expect(parseAddress('127.0.0.1:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseAddress('[::1]:9000')).toEqual({ host: '::1', port: 9000 });
    expect(parseAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    expect(parseAddress(9000)).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseAddress('9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseAddress('/run/php/fpm.sock')).toEqual({ path: '/run/php/fpm.sock' });
    expect(parseAddress('unix:fpm.sock')).toEqual({ path: 'fpm.sock' });
    expect(parseAddress({ port: 1 })).toEqual({ host: '127.0.0.1', port: 1 });
    expect(parseAddresses('a:1, b:2')).toEqual([{ host: 'a', port: 1 }, { host: 'b', port: 2 }]);
  });

  it('refuses what is not an address', () => {
    for (const bad of ['', 'host', 'host:0', 'host:65536', 'host:x', '::1:80', '[1.2.3.4]:80', 'unix:']) {
      expect(() => parseAddresses(bad), bad).toThrow(/invalid address/);
    }
  });
});
