// Child process for the audit concurrency test: appends N events to the chain of DATABASE_URL, one transaction each.
import { loadConfig } from '../../../core/config.schema.js';
import { auditDal } from '../../../core/store/audit-dal.js';
import { openDatabase } from '../../../core/store/db.js';

const [, , label = 'child', count = '20'] = process.argv;
const db = await openDatabase(loadConfig().database);
const audit = auditDal(db.db);
for (let i = 0; i < Number(count); i++) {
  await db.db.transaction().execute(async (trx) => {
    await audit.append(trx, { actor: `test:${label}`, action: 'test.append', subjectType: 'test', subjectId: `${label}-${i}`, data: { i, label } });
  });
}
await db.close();
