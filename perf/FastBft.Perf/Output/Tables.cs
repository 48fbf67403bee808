using Spectre.Console;
using Spectre.Console.Rendering;

namespace FastBft.Perf.Output;

/// <summary>
/// Harness tables through Spectre.Console: rounded borders and colour on a terminal; plain ASCII
/// without escape codes when stdout is redirected (CI logs, files), 200 columns wide so nothing wraps.
/// </summary>
internal static class Tables
{
    /// <summary>True when stdout is a terminal (then colour and box drawing are used).</summary>
    public static bool Interactive => !Console.IsOutputRedirected;

    /// <summary>A console for <paramref name="writer"/>: ANSI only when it is the terminal's stdout.</summary>
    public static IAnsiConsole ConsoleFor(TextWriter writer)
    {
        bool ansi = Interactive && ReferenceEquals(writer, Console.Out);
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = ansi ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = ansi ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = ansi ? InteractionSupport.Detect : InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        if (!ansi) console.Profile.Width = 200;
        return console;
    }

    /// <summary>A table with the given column headers (right-aligned unless the header starts with '&lt;').</summary>
    public static Table Create(params string[] headers)
    {
        var t = new Table { Border = Interactive ? TableBorder.Rounded : TableBorder.Ascii };
        foreach (var h in headers)
        {
            bool left = h.StartsWith('<');
            var c = new TableColumn(new Text(left ? h[1..] : h)) { Alignment = left ? Justify.Left : Justify.Right };
            t.AddColumn(c);
        }
        return t;
    }

    /// <summary>Adds a row of plain text cells (no markup parsing: values may contain brackets).</summary>
    public static void Row(Table t, params string[] cells)
    {
        var r = new IRenderable[cells.Length];
        for (int i = 0; i < cells.Length; i++) r[i] = new Text(cells[i]);
        t.AddRow(r);
    }

    /// <summary>Writes <paramref name="t"/> to <paramref name="writer"/>.</summary>
    public static void Write(TextWriter writer, Table t) => ConsoleFor(writer).Write(t);
}
