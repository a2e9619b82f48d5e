import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cookieValue, headerValue, setCookieHeader } from './http.js';

test('a cookie is found by its exact name anywhere in the header, spaces and tabs around it ignored', () => {
  const headers = { cookie: 'a=1; verge-sticky-old=2;\tverge-sticky=abc ; z=9' };
  assert.equal(cookieValue(headers, 'verge-sticky'), 'abc');
  assert.equal(cookieValue(headers, 'a'), '1');
  assert.equal(cookieValue(headers, 'z'), '9');
  assert.equal(cookieValue(headers, 'sticky'), undefined, 'a name is not matched inside another');
  assert.equal(cookieValue(headers, 'verge'), undefined);
});

test('the first of two cookies with one name wins, across repeated Cookie headers too', () => {
  assert.equal(cookieValue({ cookie: 'k=first; k=second' }, 'k'), 'first');
  assert.equal(cookieValue({ cookie: ['x=1', 'k=first', 'k=second'] }, 'k'), 'first');
});

test('an absent, empty or valueless cookie is no cookie', () => {
  assert.equal(cookieValue({}, 'k'), undefined);
  assert.equal(cookieValue({ cookie: '' }, 'k'), undefined);
  assert.equal(cookieValue({ cookie: 'k=' }, 'k'), undefined);
  assert.equal(cookieValue({ cookie: 'k; j=1' }, 'k'), undefined);
  assert.equal(cookieValue({ cookie: ';;; k=v' }, 'k'), 'v');
});

test('an empty header is no header, and a repeated one gives its first value', () => {
  assert.equal(headerValue({ 'x-user': '' }, 'x-user'), undefined);
  assert.equal(headerValue({ 'x-user': ['a', 'b'] }, 'x-user'), 'a');
  assert.equal(headerValue({}, 'x-user'), undefined);
});

test('a cookie Verge sets is HttpOnly, SameSite=Lax, for the whole host, and Secure over TLS', () => {
  assert.equal(setCookieHeader('n', 'v', { maxAgeSeconds: 60, secure: false }), 'n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax');
  assert.equal(setCookieHeader('n', 'v', { maxAgeSeconds: 60, secure: true }), 'n=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure');
});
