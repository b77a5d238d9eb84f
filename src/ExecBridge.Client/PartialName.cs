using System;
using System.Security.Cryptography;

namespace ExecBridge.Client
{
    /// <summary>
    /// Where a file is written before it is checked and renamed into place: ".eb-" + 8 random hex digits in the target's
    /// folder. The name does not include the target's name, so a target of up to 255 bytes (NAME_MAX) can still be
    /// written; a hidden dot name keeps it out of plain listings meanwhile.
    /// </summary>
    public static class PartialName
    {
        public const string Prefix = ".eb-";

        public static string Random8()
        {
            var b = new byte[4];
            using (var rng = RandomNumberGenerator.Create()) rng.GetBytes(b);
            return BitConverter.ToString(b).Replace("-", "").ToLowerInvariant();
        }

        /// <summary>The partial path beside a remote target (a '/' path).</summary>
        public static string ForRemote(string target) => Files.RemotePath.Combine(Files.RemotePath.GetParent(target), Prefix + Random8());

        /// <summary>The partial path beside a local target.</summary>
        public static string ForLocal(string target)
        {
            var parent = System.IO.Path.GetDirectoryName(target);
            return string.IsNullOrEmpty(parent) ? Prefix + Random8() : System.IO.Path.Combine(parent, Prefix + Random8());
        }
    }
}
