import { AS_TRANS } from "./constants.js";
import { AsSegmentType, type Aggregator, type AsPath, type AsPathSegment } from "./attributes/types.js";
import { isConfed } from "./attributes/util.js";

/** RFC 6793 §4.2.3 path length: an AS_SET counts 1, confederation segments 0. */
export function asPathCount(path: AsPath): number {
  let n = 0;
  for (const s of path) {
    if (s.type === AsSegmentType.AS_SEQUENCE) n += s.asns.length;
    else if (s.type === AsSegmentType.AS_SET) n += 1;
  }
  return n;
}

/**
 * The AS path of a route from an OLD speaker (RFC 6793 §4.2.3): when AS4_PATH is usable, take as
 * many leading ASes (and the confederation segments among or before them) from AS_PATH as make its
 * count equal AS_PATH's, then the AS4_PATH. AS4_PATH longer than AS_PATH is ignored, as is
 * AS4_PATH when an AGGREGATOR that is not AS_TRANS says the route was aggregated by an OLD speaker.
 */
export function mergeAs4(
  asPath: AsPath,
  as4Path: AsPath | undefined,
  aggregator: Aggregator | undefined,
  as4Aggregator: Aggregator | undefined,
): { asPath: AsPath; aggregator: Aggregator | undefined } {
  if (aggregator && as4Aggregator && aggregator.asn !== AS_TRANS) {
    return { asPath, aggregator };
  }
  const agg = aggregator && as4Aggregator ? as4Aggregator : aggregator;
  if (!as4Path) return { asPath, aggregator: agg };
  let need = asPathCount(asPath) - asPathCount(as4Path);
  if (need < 0) return { asPath, aggregator: agg };
  const lead: AsPathSegment[] = [];
  for (const s of asPath) {
    if (isConfed(s)) {
      lead.push(s);
      continue;
    }
    if (need === 0) break;
    if (s.type === AsSegmentType.AS_SET) {
      lead.push(s);
      need -= 1;
    } else {
      const take = Math.min(need, s.asns.length);
      lead.push(take === s.asns.length ? s : { type: s.type, asns: s.asns.slice(0, take) });
      need -= take;
    }
  }
  return { asPath: joinSequences([...lead, ...as4Path]), aggregator: agg };
}

/** Joins adjacent AS_SEQUENCEs so a path split for transport compares equal to the original. */
function joinSequences(path: AsPathSegment[]): AsPath {
  const out: AsPathSegment[] = [];
  for (const s of path) {
    const last = out[out.length - 1];
    if (
      last &&
      last.type === AsSegmentType.AS_SEQUENCE &&
      s.type === AsSegmentType.AS_SEQUENCE &&
      last.asns.length + s.asns.length <= 255
    ) {
      out[out.length - 1] = { type: AsSegmentType.AS_SEQUENCE, asns: [...last.asns, ...s.asns] };
    } else out.push(s);
  }
  return out;
}
