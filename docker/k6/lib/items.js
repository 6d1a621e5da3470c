// The items API as the scenarios call it. Every request carries an `endpoint` tag (thresholds per endpoint) and
// a `name` tag holding the route template, so ids never become tag values.
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';

import { BASE_URL } from './config.js';

// A 404 that the scenario expects (reading a deleted item, or another tenant's) is not a failed request.
const NOT_FOUND_EXPECTED = http.expectedStatuses(404);

function params(tenant, endpoint, name, extra) {
  return {
    headers: { 'X-TOKEN': tenant.token, 'Content-Type': 'application/json' },
    tags: { endpoint, name },
    ...extra,
  };
}

// A title that names its tenant: the many-tenants scenario reads it back to prove isolation.
export function titleFor(tenant, label) {
  return `${tenant.slug}: ${label}`;
}

export function listItems(tenant, limit) {
  return http.get(`${BASE_URL}/items?limit=${limit}`, params(tenant, 'list', 'GET /items'));
}

export function createItem(tenant, body) {
  return http.post(`${BASE_URL}/items`, JSON.stringify(body), params(tenant, 'create', 'POST /items'));
}

export function getItem(tenant, id) {
  return http.get(`${BASE_URL}/items/${id}`, params(tenant, 'get', 'GET /items/{id}'));
}

// GET of an item that must not be found for `tenant` (deleted, or another tenant's).
export function getMissingItem(tenant, id, endpoint) {
  return http.get(`${BASE_URL}/items/${id}`,
    params(tenant, endpoint, 'GET /items/{id}', { responseCallback: NOT_FOUND_EXPECTED }));
}

export function patchItem(tenant, id, body) {
  return http.patch(`${BASE_URL}/items/${id}`, JSON.stringify(body), params(tenant, 'update', 'PATCH /items/{id}'));
}

export function deleteItem(tenant, id) {
  return http.del(`${BASE_URL}/items/${id}`, null, params(tenant, 'delete', 'DELETE /items/{id}'));
}

// The decoded JSON body, or null when the body is not JSON (a failed request is then a failed check, not a crash).
export function jsonBody(response) {
  try {
    return response.json();
  } catch (_error) {
    return null;
  }
}

// Creates `count` items for `tenant` (setup only): a failure stops the run, since the checks count on them.
// A 429 (a server with the per-tenant rate limit on) is waited out as its Retry-After says.
export function seedItems(tenant, count) {
  for (let i = 0; i < count; i += 1) {
    let response = createItem(tenant, { title: titleFor(tenant, `seed ${i}`) });
    for (let retry = 0; response.status === 429 && retry < 10; retry += 1) {
      sleep(Number(response.headers['Retry-After']) || 1);
      response = createItem(tenant, { title: titleFor(tenant, `seed ${i}`) });
    }
    if (response.status !== 201) {
      exec.test.abort(`seeding ${tenant.slug}: POST /items answered ${response.status}, not 201`);
    }
  }
}
