import { describeFailure } from "@operator-tool/errors";
import type { CommandResult } from "../command-result.js";
import { checkCompanion, openCompanion } from "../companion.js";
import type { CommandContext } from "../context.js";
import { renderChecks } from "../render.js";

/** The readiness checks alone: exit 0 when all pass, 30 with the table when one fails. */
export async function companionCheck(ctx: CommandContext): Promise<CommandResult> {
  const connection = await openCompanion(ctx);
  try {
    const { data, notReady } = await checkCompanion(
      ctx,
      connection,
      ctx.option("engineMarginMb") * 1024 * 1024,
    );
    return {
      data,
      text: renderChecks(data),
      ...(notReady === undefined ? {} : { failure: describeFailure(notReady) }),
    };
  } finally {
    connection.close();
  }
}
