// Full CRUD cycle: each iteration creates an item, reads it, updates it (PATCH), finds it in the list, deletes it
// and reads it again (404), checking every status and body on the way.
// SLO: p95 < 700 ms and under 2 % failed requests, overall and per endpoint.
import { check } from 'k6';

import { createTenants, deleteTenants, requireAdminKey, runPrefix } from './lib/admin.js';
import { COMMON_OPTIONS, durationSeconds, p95Ms, vus } from './lib/config.js';
import {
  createItem, deleteItem, getItem, getMissingItem, jsonBody, listItems, patchItem, titleFor,
} from './lib/items.js';

const P95 = p95Ms(700);
const ENDPOINTS = ['create', 'get', 'update', 'list', 'delete', 'get_deleted'];

export const options = {
  ...COMMON_OPTIONS,
  scenarios: {
    crud: { executor: 'constant-vus', vus: vus(10), duration: `${durationSeconds('30s')}s` },
  },
  thresholds: {
    'http_req_duration{scenario:crud}': [`p(95)<${P95}`],
    'http_req_failed{scenario:crud}': ['rate<0.02'],
    'http_reqs{scenario:crud}': ['count>0'],
    // Per endpoint too, so one slow write path cannot hide behind fast reads.
    ...Object.fromEntries(ENDPOINTS.map((endpoint) => [`http_req_duration{scenario:crud,endpoint:${endpoint}}`,
      [`p(95)<${P95}`]])),
  },
};

export function setup() {
  requireAdminKey();
  return { tenants: createTenants(runPrefix('crud'), 1) };
}

export default function (data) {
  const tenant = data.tenants[0];
  const title = titleFor(tenant, `crud ${__VU}-${__ITER}`);

  const created = createItem(tenant, { title, description: 'made by the crud-cycle scenario' });
  const item = jsonBody(created);
  const ok = check(created, {
    'create is 201': (r) => r.status === 201,
    'create answers the item': () => item !== null && typeof item.id === 'string' && item.title === title &&
      item.status === 'pending',
    'create sets Location': (r) => item !== null && r.headers.Location === `/items/${item.id}`,
  });
  if (!ok || item === null || typeof item.id !== 'string') {
    return; // nothing to read, update or delete
  }

  const read = getItem(tenant, item.id);
  const readBody = jsonBody(read);
  check(read, {
    'get is 200': (r) => r.status === 200,
    'get answers the same item': () => readBody !== null && readBody.id === item.id && readBody.title === title,
  });

  const updated = patchItem(tenant, item.id, { status: 'done' });
  const updatedBody = jsonBody(updated);
  check(updated, {
    'update is 200': (r) => r.status === 200,
    'update changes only the status': () => updatedBody !== null && updatedBody.status === 'done' &&
      updatedBody.title === title && updatedBody.description === item.description,
  });

  // Each VU holds at most one live item (it deletes what it made), so a page of 200 holds this one whatever
  // the others do, up to 200 VUs.
  const listed = listItems(tenant, 200);
  const page = jsonBody(listed);
  check(listed, {
    'list is 200': (r) => r.status === 200,
    'list holds the item': () => page !== null && Array.isArray(page.items) &&
      page.items.some((row) => row.id === item.id && row.status === 'done'),
  });

  check(deleteItem(tenant, item.id), { 'delete is 204': (r) => r.status === 204 });
  check(getMissingItem(tenant, item.id, 'get_deleted'), { 'deleted item is 404': (r) => r.status === 404 });
}

export function teardown(data) {
  deleteTenants(data.tenants);
}
