using System.Buffers;

namespace ExecBridge.Client.Rpc
{
    /// <summary>
    /// Where message buffers come from. Arrays up to PooledMax use the shared pool (a 1 MiB block answer is ~1.4 MB and
    /// reuses one 2 MiB array); larger ones are plain arrays that the GC takes back once the message is done, so one
    /// huge message never leaves its array parked in a process-wide pool.
    /// </summary>
    internal static class MessageBuffers
    {
        public const int PooledMax = 8 << 20;

        public static byte[] Rent(int size) => size <= PooledMax ? ArrayPool<byte>.Shared.Rent(size) : new byte[size];

        public static void Return(byte[] array)
        {
            if (array.Length > 0 && array.Length <= PooledMax) ArrayPool<byte>.Shared.Return(array);
        }
    }
}
