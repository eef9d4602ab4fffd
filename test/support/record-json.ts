// The JSON the lab suites read back from `xaev -j`, typed from the CLI's own types
// (src/cli/record.ts), so a renamed or removed field fails to compile in every suite that
// reads it. The lab's SAs always carry replay and lifetime state, and the assertions read
// either replay flavour, hence the widened view of those two fields.
import type { EventRecordJson, GetRecordJson } from '../../src/cli/record.js';

type ParsedReplay = NonNullable<GetRecordJson['replay']>;
export type Replay = Pick<ParsedReplay, 'kind' | 'seq' | 'oseq'> & { bitmap: number | number[]; seqHi?: number; oseqHi?: number; window?: number };
type WithState<T extends { replay: unknown; lifetime: unknown }> = Omit<T, 'replay' | 'lifetime'> & {
  replay: Replay;
  lifetime: NonNullable<T['lifetime']>;
};
/** One SA of `get -j`, `set -j` or `list -j`. */
export type SaJson = WithState<GetRecordJson>;
/** One line of `monitor -j`. */
export type EventJson = WithState<EventRecordJson>;
