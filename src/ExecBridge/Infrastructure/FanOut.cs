using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Runs one piece of work per target, at most 'throttle' at a time, on the thread pool. The work reports through
    /// Post; whoever owns the fan-out (a cmdlet's pipeline thread, or a job) drains the events with TryTake, so no
    /// background thread ever writes to a pipeline. Cancel (Ctrl+C, Stop-Job, -ErrorAction Stop) cancels every
    /// running piece and keeps the ones not started yet from starting; each piece cleans up after itself (kills its
    /// remote process) before its task ends, so waiting for Completion means nothing is left running.
    /// </summary>
    internal sealed class FanOut<TTarget> : IDisposable
    {
        private readonly ConcurrentQueue<object> _events = new ConcurrentQueue<object>();
        private readonly SemaphoreSlim _signal = new SemaphoreSlim(0);
        private readonly CancellationTokenSource _cancel;
        private readonly SemaphoreSlim _slots;

        public FanOut(int throttle, CancellationToken cancellationToken)
        {
            _cancel = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            _slots = new SemaphoreSlim(Math.Max(1, throttle));
        }

        /// <summary>Starts the work for every target (once); their events can be posted from then on.</summary>
        public void Start(IReadOnlyList<TTarget> targets, Func<TTarget, int, CancellationToken, Task> work)
        {
            var token = _cancel.Token;
            var tasks = targets.Select((target, index) => Task.Run(() => RunOne(target, index, work, token))).ToArray();
            Completion = Task.WhenAll(tasks);
            // Wakes a drainer blocked in TryTake once the last piece has ended.
            Completion.ContinueWith(_ => _signal.Release(), TaskScheduler.Default);
        }

        /// <summary>Ends when every piece has ended (it never faults: a piece's failure is one of its events).</summary>
        public Task Completion { get; private set; } = Task.CompletedTask;

        public bool IsCancelled => _cancel.IsCancellationRequested;

        private async Task RunOne(TTarget target, int index, Func<TTarget, int, CancellationToken, Task> work, CancellationToken token)
        {
            try
            {
                await _slots.WaitAsync(token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Post(new FanOutSkipped(index));
                return;
            }
            try
            {
                await work(target, index, token).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The work reports its own failures; this is the last resort so one target's bug cannot hang the rest.
                Post(new FanOutCrashed(index, ex));
            }
            finally
            {
                _slots.Release();
            }
        }

        /// <summary>Called from any thread by the work.</summary>
        public void Post(object item)
        {
            _events.Enqueue(item);
            _signal.Release();
        }

        /// <summary>The next event, waiting up to 'milliseconds'; false when none came (or all work has ended and the queue is empty).</summary>
        public bool TryTake(out object? item, int milliseconds)
        {
            if (_events.TryDequeue(out item)) return true;
            try
            {
                _signal.Wait(milliseconds);
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
            return _events.TryDequeue(out item);
        }

        /// <summary>True once every piece has ended and every event has been taken.</summary>
        public bool IsDrained => Completion.IsCompleted && _events.IsEmpty;

        public void Cancel()
        {
            try
            {
                _cancel.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Cancels and waits (bounded) for every piece to clean up.</summary>
        public void CancelAndWait(TimeSpan bound)
        {
            Cancel();
            try
            {
                Completion.Wait(bound);
            }
            catch (AggregateException)
            {
            }
        }

        public void Dispose()
        {
            CancelAndWait(TimeSpan.FromSeconds(10));
            _cancel.Dispose();
        }
    }

    /// <summary>A target whose work never started because the fan-out was cancelled first.</summary>
    internal sealed class FanOutSkipped
    {
        public FanOutSkipped(int index) { Index = index; }
        public int Index { get; }
    }

    /// <summary>A target whose work threw something it did not report itself.</summary>
    internal sealed class FanOutCrashed
    {
        public FanOutCrashed(int index, Exception error) { Index = index; Error = error; }
        public int Index { get; }
        public Exception Error { get; }
    }
}
