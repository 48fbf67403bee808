using System.Globalization;

namespace FastBft.Workloads;

/// <summary>
/// A micro-benchmark workload "a/b" or "a/b/z" (Thesis §5.5: 0/4, 4/0, 4/0/z): request size a KiB,
/// reply size b KiB, state update size z KiB per request. "0/0" is the empty request and reply.
/// </summary>
/// <param name="RequestBytes">request (operation) size, bytes.</param>
/// <param name="ReplyBytes">reply size, bytes.</param>
/// <param name="UpdateBytes">state update size per request, bytes.</param>
public readonly record struct Workload(int RequestBytes, int ReplyBytes, int UpdateBytes)
{
    /// <summary>Parses "a/b" or "a/b/z" with sizes in KiB (non-negative decimals allowed, e.g. "0.5/0").</summary>
    /// <exception cref="FormatException">not of that form, negative, or above 1024 KiB.</exception>
    public static Workload Parse(string text)
    {
        var parts = (text ?? "").Split('/');
        if (parts.Length is < 2 or > 3) throw new FormatException($"workload '{text}' must be a/b or a/b/z (KiB), e.g. 0/4, 4/0, 4/0/1");
        Span<int> v = stackalloc int[3];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out double kib) || kib < 0 || kib > 1024)
                throw new FormatException($"workload '{text}': '{parts[i]}' is not a size in KiB between 0 and 1024");
            v[i] = (int)Math.Round(kib * 1024);
        }
        return new Workload(v[0], v[1], v[2]);
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        static string K(int b) => (b / 1024.0).ToString("0.##", CultureInfo.InvariantCulture);
        return UpdateBytes > 0 ? $"{K(RequestBytes)}/{K(ReplyBytes)}/{K(UpdateBytes)}" : $"{K(RequestBytes)}/{K(ReplyBytes)}";
    }
}
