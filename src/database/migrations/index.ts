// Listed explicitly (not globbed) so the app, the CLI and Jest load the same classes under ESM.
import { CreateSchema1795583224743 } from './1795583224743-CreateSchema.js';
import { CountDecidedRequests1795584188136 } from './1795584188136-CountDecidedRequests.js';
import { WaitlistLifecycle1795646654332 } from './1795646654332-WaitlistLifecycle.js';
import { DeadLetters1795647844037 } from './1795647844037-DeadLetters.js';
import { LiveEvents1795735000000 } from './1795735000000-LiveEvents.js';
import { CaseInsensitiveCourseCodes1795736000000 } from './1795736000000-CaseInsensitiveCourseCodes.js';
import { Schedules1795800000000 } from './1795800000000-Schedules.js';
import { Swaps1795900000000 } from './1795900000000-Swaps.js';
import { Offers1796000000000 } from './1796000000000-Offers.js';
import { FairOpening1796100000000 } from './1796100000000-FairOpening.js';
import { Webhooks1796200000000 } from './1796200000000-Webhooks.js';

export const migrations = [
  CreateSchema1795583224743,
  CountDecidedRequests1795584188136,
  WaitlistLifecycle1795646654332,
  DeadLetters1795647844037,
  LiveEvents1795735000000,
  CaseInsensitiveCourseCodes1795736000000,
  Schedules1795800000000,
  Swaps1795900000000,
  Offers1796000000000,
  FairOpening1796100000000,
  Webhooks1796200000000,
];
