/** allow() and deny(): the typed answers of an AUTHORIZER (FastCGI 1.0, 6.3), through a raw connection. */
import { afterEach, describe, expect, it } from 'vitest';
import { allow, deny } from '../../lib/index.js';
import { PS, ROLE, begin, cgiParams, params, parseCgi } from '../helpers/fcgi-client.js';
import { startRouted, stopAll } from './setup.js';

afterEach(stopAll);

describe('AUTHORIZER helpers', () => {
  it('allow() answers 200 with a Variable- header per variable', async () => {
    const r = await startRouted({ roles: ['authorizer'] }, { '/a': (_q, res) => allow(res, { USER: 'ann', GROUP: 'staff' }) });
    const c = await r.client();
    c.send(begin(1, { role: ROLE.AUTHORIZER }), params(1, cgiParams('/a')));
    const res = await c.response(1);
    expect(res.protocolStatus).toBe(PS.REQUEST_COMPLETE);
    const a = parseCgi(res.stdout);
    expect(a.status).toBe(200);
    expect(a.headers).toContainEqual(['Variable-USER', 'ann']);
    expect(a.headers).toContainEqual(['Variable-GROUP', 'staff']);
    expect(a.body.length).toBe(0);
  });

  it('deny() answers its status, headers and body; 403 by default; never 200', async () => {
    const r = await startRouted({ roles: ['authorizer'] }, {
      '/d': (_q, res) => deny(res, 401, 'who are you?', { 'WWW-Authenticate': 'Basic realm="x"' }),
      '/d403': (_q, res) => deny(res),
      '/d200': (_q, res) => { try { deny(res, 200); } catch (err) { res.statusCode = 500; res.end((err as Error).message); } },
    });
    const c = await r.client();
    c.send(begin(1, { role: ROLE.AUTHORIZER }), params(1, cgiParams('/d')));
    const a = parseCgi((await c.response(1)).stdout);
    expect(a.status).toBe(401);
    expect(a.headers).toContainEqual(['WWW-Authenticate', 'Basic realm="x"']);
    expect(a.body.toString()).toBe('who are you?');
    c.send(begin(2, { role: ROLE.AUTHORIZER }), params(2, cgiParams('/d403')));
    expect(parseCgi((await c.response(2)).stdout).status).toBe(403);
    c.send(begin(3, { role: ROLE.AUTHORIZER }), params(3, cgiParams('/d200')));
    const d = parseCgi((await c.response(3)).stdout);
    expect(d.status).toBe(500);
    expect(d.body.toString()).toMatch(/cannot have status 200/);
  });

  it('allow() refuses a variable name the web server could not pass on', () => {
    const fake = { statusCode: 0, setHeader() {}, end() {} } as unknown as import('node:http').ServerResponse;
    expect(() => allow(fake, { 'BAD NAME': 'x' })).toThrow(TypeError);
  });
});
