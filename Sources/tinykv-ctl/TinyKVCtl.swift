import ArgumentParser

/// `tinykv-ctl`: operate and inspect a TinyKV cluster from the command line.
@main
struct TinyKVCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tinykv-ctl",
        abstract: "Operate and inspect a TinyKV cluster.",
        subcommands: [WireCommand.self, CheckHistoryCommand.self]
    )
}
