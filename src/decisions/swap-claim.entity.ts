import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * A request named by a swap (contract v3, Swap): one row per named request, naming the swap that claimed
 * it. The primary key is what lets at most one pending swap name a request, whichever API process takes
 * it; a row whose swap is no longer pending (decided for good, withdrawn, or never queued) is taken over.
 */
@Entity({ name: 'swap_claims' })
export class SwapClaim {
  @PrimaryColumn({
    name: 'target_key',
    type: 'varchar',
    length: 128,
    primaryKeyConstraintName: 'swap_claims_pkey',
  })
  targetKey!: string;

  @Column({ name: 'swap_key', type: 'varchar', length: 128 })
  swapKey!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
