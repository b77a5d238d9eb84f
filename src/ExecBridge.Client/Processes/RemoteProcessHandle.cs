using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Client.Processes
{
    public enum OutputStreamKind { Stdout, Stderr, Pty }

    /// <summary>One decoded output chunk, in seq order.</summary>
    public sealed class OutputChunk
    {
        public OutputChunk(long seq, OutputStreamKind stream, byte[] data)
        {
            Seq = seq;
            Stream = stream;
            Data = data;
        }

        public long Seq { get; }
        public OutputStreamKind Stream { get; }
        public byte[] Data { get; }
    }

    /// <summary>
    /// The client's view of one remote process: output chunks kept in seq order, de-duplicated, until a
    /// consumer takes them (like a job's output), plus exit state. Fed by the reader loop, drained by callers.
    /// </summary>
    public sealed class RemoteProcessHandle
    {
        private readonly object _gate = new object();
        private readonly Queue<OutputChunk> _unread = new Queue<OutputChunk>();
        private SortedDictionary<long, OutputChunk>? _heldDuringCatchUp;
        private TaskCompletionSource<bool> _changed = NewSignal();
        private bool _waiterHolds; // someone waits on _changed: the next Signal must complete and replace it
        private long _highestSeq;
        private long _bytesReceived;

        /// <summary>
        /// Unread output kept per process by default. Past the bound the oldest chunks are dropped (and reported as
        /// OutputLost with the byte count) rather than spilled to disk: output nobody reads would only move the
        /// unbounded growth to the disk, the server itself keeps just the last ~1 MiB (notes §5.4), and dropping
        /// never blocks the connection's reader, which every other call on the connection depends on.
        /// </summary>
        public const long DefaultMaxUnreadBytes = 64L * 1024 * 1024;

        private readonly long _maxUnreadBytes;
        private long _droppedBytes;
        private long _droppedChunks;

        internal RemoteProcessHandle(ExecutorClient owner, string processId)
        {
            Owner = owner;
            ProcessId = processId;
            long max = owner.Endpoint.MaxOutputBuffer;
            _maxUnreadBytes = max > 0 ? max : DefaultMaxUnreadBytes;
        }

        /// <summary>Output dropped so far because nobody read it in time (bytes).</summary>
        public long DroppedBytes { get { lock (_gate) return _droppedBytesTotal; } }
        private long _droppedBytesTotal;

        public ExecutorClient Owner { get; }

        /// <summary>The object the cmdlet layer made for this process.</summary>
        public object? Tag { get; set; }
        public string ProcessId { get; }
        public bool Exited { get; private set; }
        public int? ExitCode { get; private set; }
        public bool Closed { get; private set; }
        public long? ExitedSeq { get; private set; }
        public long HighestSeq { get { lock (_gate) return _highestSeq; } }
        public long BytesReceived { get { lock (_gate) return _bytesReceived; } }

        /// <summary>Set when output could not be recovered or the process's session was lost; reported, never hidden.</summary>
        public ExecBridgeException? Failure { get; private set; }

        /// <summary>True once nothing more can arrive: closed, or failed.</summary>
        public bool IsFinished { get { lock (_gate) return Closed || Failure != null; } }

        public bool HasUnread { get { lock (_gate) return _unread.Count > 0; } }

        /// <summary>
        /// Set by the consumer once it has emitted everything, the end included: the process may then be forgotten
        /// when nobody holds it any more.
        /// </summary>
        public bool Delivered { get => Volatile.Read(ref _delivered); set => Volatile.Write(ref _delivered, value); }
        private bool _delivered;

        /// <summary>
        /// Set once the server confirmed process/start. Until then a reconnect neither reads the process back nor fails
        /// it: the start itself is resent, and the server may never have heard of the id.
        /// </summary>
        internal bool StartConfirmed { get => Volatile.Read(ref _startConfirmed); set => Volatile.Write(ref _startConfirmed, value); }
        private bool _startConfirmed;

        /// <summary>Pushed output is being held until a catch-up read merges it.</summary>
        internal bool IsHolding { get { lock (_gate) return _heldDuringCatchUp != null; } }

        /// <summary>Started and not finished: what a reconnect has to read back (or report lost).</summary>
        internal bool IsLive => StartConfirmed && !IsFinished;

        /// <summary>Bytes that arrived and were not taken yet.</summary>
        public long UnreadBytes { get { lock (_gate) return _unreadBytes; } }
        private long _unreadBytes;

        private static TaskCompletionSource<bool> NewSignal() =>
            new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Takes every chunk that arrived since the last call.</summary>
        public List<OutputChunk> TakeUnread()
        {
            lock (_gate)
            {
                var list = new List<OutputChunk>(_unread);
                _unread.Clear();
                _unreadBytes = 0;
                return list;
            }
        }

        /// <summary>Completes when anything changes (output, exit, close, failure, connection loss).</summary>
        public Task WaitForChangeAsync(TimeSpan timeout, CancellationToken cancellationToken)
        {
            Task signal;
            lock (_gate)
            {
                if (_unread.Count > 0 || _gaps.Count > 0 || Closed || Failure != null) return Task.CompletedTask;
                signal = _changed.Task;
                _waiterHolds = true;
            }
            return WaitAsync(signal, timeout, cancellationToken);
        }

        private static async Task WaitAsync(Task signal, TimeSpan timeout, CancellationToken cancellationToken)
        {
            // Called once per wake-up on hot output paths: a timer that is disposed with the wait, not a
            // Task.Delay that stays queued for the whole timeout after every wake-up.
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeoutCts.CancelAfter(timeout);
            var woken = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            using (timeoutCts.Token.Register(() => woken.TrySetResult(true)))
            {
                await Task.WhenAny(signal, woken.Task).ConfigureAwait(false);
            }
            cancellationToken.ThrowIfCancellationRequested();
        }

        internal void OnOutput(long seq, OutputStreamKind stream, byte[] data)
        {
            lock (_gate)
            {
                if (_heldDuringCatchUp != null)
                {
                    if (!IsSeenLocked(seq)) _heldDuringCatchUp[seq] = new OutputChunk(seq, stream, data);
                    return;
                }
                AppendLocked(new OutputChunk(seq, stream, data));
            }
            Signal();
        }

        private void AppendLocked(OutputChunk chunk)
        {
            // Notifications of stdout and stderr (and the exited event) are not always sent in seq order,
            // so duplicates (from catch-up reads) are found by seq membership, not by a high-water mark.
            if (IsSeenLocked(chunk.Seq)) return;
            MarkSeenLocked(chunk.Seq);
            if (chunk.Seq > _highestSeq) _highestSeq = chunk.Seq;
            _chunkCount++;
            _bytesReceived += chunk.Data.Length;
            _unreadBytes += chunk.Data.Length;
            _unread.Enqueue(chunk);
            // The newest chunk always stays, so a reader that comes back sees the latest output.
            while (_unreadBytes > _maxUnreadBytes && _unread.Count > 1)
            {
                var oldest = _unread.Dequeue();
                _unreadBytes -= oldest.Data.Length;
                _droppedBytes += oldest.Data.Length;
                _droppedBytesTotal += oldest.Data.Length;
                _droppedChunks++;
            }
            CompleteCloseLocked();
        }

        private long _chunkCount;

        // Every seq up to _contiguousSeq was seen (a chunk or the exited event); _seenAbove holds the ones after it.
        private long _contiguousSeq;
        private readonly HashSet<long> _seenAbove = new HashSet<long>();

        private bool IsSeenLocked(long seq) => seq <= _contiguousSeq || _seenAbove.Contains(seq);

        private void MarkSeenLocked(long seq)
        {
            if (seq <= _contiguousSeq) return;
            _seenAbove.Add(seq);
            while (_seenAbove.Remove(_contiguousSeq + 1)) _contiguousSeq++;
        }

        /// <summary>Whether a seq has been seen (chunk or exited event).</summary>
        public bool IsSeen(long seq) { lock (_gate) return IsSeenLocked(seq); }

        /// <summary>The highest seq below which nothing is missing; catch-up reads start after it.</summary>
        public long ContiguousSeq { get { lock (_gate) return _contiguousSeq; } }
        private long? _closedSeq;

        /// <summary>When closed was seen but some seq below it has not arrived yet.</summary>
        public DateTime? ClosePendingSinceUtc { get; private set; }

        /// <summary>Closed only once every seq below the closed event is accounted for: no trailing chunk is lost.</summary>
        private void CompleteCloseLocked()
        {
            if (Closed || _closedSeq == null) return;
            long accounted = _chunkCount + (ExitedSeq != null ? 1 : 0);
            if (accounted >= _closedSeq.Value - 1) { Closed = true; ClosePendingSinceUtc = null; }
            else if (ClosePendingSinceUtc == null) ClosePendingSinceUtc = DateTime.UtcNow;
        }

        internal void OnExited(long seq, int exitCode)
        {
            lock (_gate)
            {
                Exited = true;
                ExitCode = exitCode;
                ExitedSeq = seq;
                MarkSeenLocked(seq);
                CompleteCloseLocked();
            }
            Signal();
        }

        internal void OnClosed(long seq)
        {
            lock (_gate)
            {
                _closedSeq = seq;
                if (_heldDuringCatchUp != null) return;
                CompleteCloseLocked();
            }
            Signal();
        }

        private readonly Queue<ExecBridgeException> _gaps = new Queue<ExecBridgeException>();

        /// <summary>Output gaps found since the last call (output the server no longer had after a reconnect).</summary>
        public List<ExecBridgeException> TakeGaps()
        {
            lock (_gate)
            {
                var list = new List<ExecBridgeException>(_gaps);
                _gaps.Clear();
                if (_droppedBytes > 0)
                {
                    list.Add(new ExecBridgeException(ExecBridgeErrorKind.OutputLost,
                        $"{_droppedBytes} bytes ({_droppedChunks} chunks) of output of process '{ProcessId}' on '{Owner.ExecutorId}' were dropped because nobody read them: "
                        + $"at most {_maxUnreadBytes} unread bytes are kept per process (Connect-ExecBridge -MaxOutputBuffer); the oldest went first."));
                    _droppedBytes = 0;
                    _droppedChunks = 0;
                }
                return list;
            }
        }

        internal void OnFailure(ExecBridgeException failure)
        {
            lock (_gate)
            {
                if (Closed || Failure != null) return;
                Failure = failure;
            }
            Signal();
        }

        /// <summary>
        /// Called on the thread that filed a change (the reader loop, a failure), synchronously, after the change is visible.
        /// For a consumer that must wake with the least delay (an interactive session setting an event its thread waits on):
        /// a waiter of WaitForChangeAsync wakes one thread-pool hop later. Must be quick and must not throw.
        /// </summary>
        public Action? ChangedCallback { get => Volatile.Read(ref _changedCallback); set => Volatile.Write(ref _changedCallback, value); }
        private Action? _changedCallback;

        /// <summary>Wakes waiters without a state change, e.g. so they notice a lost connection.</summary>
        internal void Signal()
        {
            try { Volatile.Read(ref _changedCallback)?.Invoke(); } catch { }
            TaskCompletionSource<bool> old;
            lock (_gate)
            {
                // Output notifications signal thousands of times a second; with nobody waiting there is nothing to wake.
                if (!_waiterHolds) return;
                _waiterHolds = false;
                old = _changed;
                _changed = NewSignal();
            }
            old.TrySetResult(true);
        }

        /// <summary>Starts a catch-up after a resume: pushed notifications are held until the read is merged.</summary>
        internal long BeginCatchUp()
        {
            lock (_gate)
            {
                // Idempotent: holding starts before the resuming initialize and survives a failed redial attempt.
                _heldDuringCatchUp = _heldDuringCatchUp ?? new SortedDictionary<long, OutputChunk>();
                return _contiguousSeq;
            }
        }

        /// <summary>Merges chunks read with process/read (in order) with the notifications held meanwhile.</summary>
        internal void EndCatchUp(IList<OutputChunk> readChunks, bool exited, int? exitCode, bool closed, ExecBridgeException? gap)
        {
            lock (_gate)
            {
                var held = _heldDuringCatchUp ?? new SortedDictionary<long, OutputChunk>();
                _heldDuringCatchUp = null;
                foreach (var c in readChunks) held[c.Seq] = c;
                foreach (var c in held.Values) AppendLocked(c);
                if (exited && !Exited) { Exited = true; ExitCode = exitCode; }
                // The server said closed in the read result: whatever it still had has been merged above.
                if (closed) { Closed = true; ClosePendingSinceUtc = null; }
                else CompleteCloseLocked();
                if (gap != null) _gaps.Enqueue(gap);
            }
            Signal();
        }
    }
}
