// Types of scripts/cpu-profile.mjs for the TypeScript tests that import it.

export interface CpuShare {
  /** A part of the accept path, as the bench's profile table names it. */
  part: string;
  /** CourseFlow's own part (true), or one the bare NestJS app has too. */
  own: boolean;
  /** Its share of the busy (not idle) CPU time sampled in the window. */
  share: number;
}

export function cpuShares(file: string, fromUs?: number, toUs?: number): CpuShare[];
