using System;
using System.Text.Json;

namespace ExecBridge.Client.Rpc
{
    /// <summary>Strings from the server that may be malformed: an escaped lone surrogate makes GetString throw.</summary>
    internal static class JsonText
    {
        /// <summary>The string value, or null when the element is not a string or cannot be decoded.</summary>
        public static string? TryString(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.String) return null;
            try
            {
                return e.GetString();
            }
            catch (InvalidOperationException)
            {
                return null;
            }
        }
    }
}
