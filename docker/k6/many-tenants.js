// Many tenants: setup creates TENANTS tenants (default 20); each iteration picks one, lists its items and creates
// one, then asks for that item with another tenant's token. Every item a tenant creates carries its slug in the
// title, so a listed row without it, or a foreign item that answers, is a row crossing tenants: tenant isolation
// checked under concurrent load on a shared pool.
// SLO: p95 < 700 ms and under 2 % failed requests; the isolation checks must all pass (checks{kind:isolation}).
import { check } from 'k6';

import { createTenants, deleteTenants, requireAdminKey, runPrefix } from './lib/admin.js';
import { COMMON_OPTIONS, count, durationSeconds, p95Ms, vus } from './lib/config.js';
import { createItem, getMissingItem, jsonBody, listItems, titleFor } from './lib/items.js';

const TENANTS = count('TENANTS', 20);
const P95 = p95Ms(700);
const ISOLATION = { kind: 'isolation' };

export const options = {
  ...COMMON_OPTIONS,
  scenarios: {
    tenants: { executor: 'constant-vus', vus: vus(20), duration: `${durationSeconds('30s')}s` },
  },
  thresholds: {
    'http_req_duration{scenario:tenants}': [`p(95)<${P95}`],
    'http_req_duration{scenario:tenants,endpoint:list}': [`p(95)<${P95}`],
    'http_req_duration{scenario:tenants,endpoint:create}': [`p(95)<${P95}`],
    'http_req_failed{scenario:tenants}': ['rate<0.02'],
    'http_reqs{scenario:tenants}': ['count>0'],
    // Errors have their budget above; a row of another tenant has none.
    'checks{kind:isolation}': ['rate==1'],
  },
};

export function setup() {
  requireAdminKey();
  return { tenants: createTenants(runPrefix('mt'), TENANTS) };
}

export default function (data) {
  const { tenants } = data;
  // Spread the VUs over the tenants and move each VU on to the next tenant every iteration.
  const index = (__VU + __ITER) % tenants.length;
  const tenant = tenants[index];
  const prefix = titleFor(tenant, '');

  const listed = listItems(tenant, 50);
  const page = jsonBody(listed);
  check(listed, { 'list is 200': (r) => r.status === 200 });
  if (listed.status === 200) {
    check(page, {
      "list holds only the tenant's items": (body) => body !== null && Array.isArray(body.items) &&
        body.items.every((row) => typeof row.title === 'string' && row.title.startsWith(prefix)),
    }, ISOLATION);
  }

  const title = titleFor(tenant, `item ${__VU}-${__ITER}`);
  const created = createItem(tenant, { title });
  const item = jsonBody(created);
  check(created, {
    'create is 201': (r) => r.status === 201,
    'create answers the item': () => item !== null && item.title === title,
  });

  if (tenants.length > 1 && created.status === 201 && item !== null) {
    const other = tenants[(index + 1) % tenants.length];
    check(getMissingItem(other, item.id, 'foreign_get'), {
      "another tenant's item is 404": (r) => r.status === 404,
    }, ISOLATION);
  }
}

export function teardown(data) {
  deleteTenants(data.tenants);
}
