import ArgumentParser
import Bench

/// `tinykv-ctl`: operate and inspect a TinyKV cluster from the command line.
@main
struct TinyKVCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinykv-ctl",
        abstract: "Operate and inspect a TinyKV cluster.",
        discussion: """
            Requests are routed through the scheduler (--scheduler): it tells which region holds a key \
            and which store leads it; region errors refresh the route and retry. While the scheduler \
            knows no region (a standalone store), requests go to --store.

            Exit codes: 0 success, 1 key not found (get), 2 transaction conflict after retries, \
            3 cluster unreachable or request failed, 64 usage error.
            """,
        subcommands: [RawCommand.self, TxnCommand.self, StoreCommand.self, RegionCommand.self,
                      ClusterCommand.self, TsoCommand.self, BenchCommand.self, WireCommand.self, CheckHistoryCommand.self]
    )
}
