/**
 * A minimal real nginx for the framework suites: one master, one worker, every path inside a temp folder,
 * `fastcgi_pass` to an upstream with `keepalive` and `fastcgi_keep_conn on`. Started and stopped by the pid
 * this module spawned (QUIT, then TERM and KILL after timeouts); never by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX_BIN = process.env.NGINX_BIN ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

/** A free TCP port on 127.0.0.1, found by binding port 0. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1');
    c.once('connect', () => { c.destroy(); resolve(true); });
    c.once('error', () => resolve(false));
  });
}

/** The params upstream nginx's conf/fastcgi_params sets (the distribution's file varies; this one does not). */
const FASTCGI_PARAMS = `
      fastcgi_param QUERY_STRING      $query_string;
      fastcgi_param REQUEST_METHOD    $request_method;
      fastcgi_param CONTENT_TYPE      $content_type;
      fastcgi_param CONTENT_LENGTH    $content_length;
      fastcgi_param SCRIPT_NAME       $fastcgi_script_name;
      fastcgi_param REQUEST_URI       $request_uri;
      fastcgi_param DOCUMENT_URI      $document_uri;
      fastcgi_param DOCUMENT_ROOT     $document_root;
      fastcgi_param SERVER_PROTOCOL   $server_protocol;
      fastcgi_param REQUEST_SCHEME    $scheme;
      fastcgi_param HTTPS             $https if_not_empty;
      fastcgi_param GATEWAY_INTERFACE CGI/1.1;
      fastcgi_param SERVER_SOFTWARE   nginx/$nginx_version;
      fastcgi_param REMOTE_ADDR       $remote_addr;
      fastcgi_param REMOTE_PORT       $remote_port;
      fastcgi_param SERVER_ADDR       $server_addr;
      fastcgi_param SERVER_PORT       $server_port;
      fastcgi_param SERVER_NAME       $server_name;
      fastcgi_param REDIRECT_STATUS   200;`;

export interface Nginx {
  /** The port nginx serves HTTP on (127.0.0.1). */
  port: number;
  dir: string;
  /** The error log so far. */
  errorLog(): string;
  /** error.log lines at [error] or worse. */
  errors(): string[];
  stop(): Promise<void>;
}

/** Starts nginx in front of a FastCGI app listening on 127.0.0.1:appPort. */
export async function startNginx(appPort: number): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'cgiwire-fw-nginx-'));
  const port = await freePort();
  for (const t of ['client_body', 'fastcgi', 'proxy', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', t), { recursive: true });
  // As root, the worker would otherwise switch to nobody and lose the temp folders (mkdtemp makes them 0700).
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  const conf = `
${user}
daemon off;
master_process on;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 256; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/client_body;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  proxy_temp_path ${dir}/tmp/proxy;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  default_type application/octet-stream;
  client_max_body_size 10m;
  upstream app {
    server 127.0.0.1:${appPort};
    keepalive 4;
  }
  server {
    listen 127.0.0.1:${port};
    server_name localhost;
    location / {
      fastcgi_pass app;
      fastcgi_keep_conn on;
${FASTCGI_PARAMS}
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  child.once('error', (err) => { output += String(err); exited = true; });
  const errorLog = (): string => { try { return readFileSync(join(dir, 'error.log'), 'utf8'); } catch { return ''; } };

  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (exited || Date.now() > deadline) {
      if (!exited) child.kill('SIGKILL');
      throw new Error(`nginx did not start on port ${port}:\n${output}\n${errorLog()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }

  return {
    port,
    dir,
    errorLog,
    errors: () => errorLog().split('\n').filter((l) => /\[(error|crit|alert|emerg)\]/.test(l)),
    async stop() {
      if (!exited && child.pid !== undefined) {
        // QUIT: graceful (waits for requests in progress). A stuck request gets TERM after 3 s (fast shutdown:
        // the master still takes its worker down), and KILL 2 s later.
        child.kill('SIGQUIT');
        const term = setTimeout(() => { if (!exited) child.kill('SIGTERM'); }, 3_000);
        const kill = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 5_000);
        await exit;
        clearTimeout(term);
        clearTimeout(kill);
      }
      if (!process.env.CGIWIRE_KEEP_NGINX_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
}
