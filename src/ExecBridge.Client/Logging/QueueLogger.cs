using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client.Logging
{
    /// <summary>How important a log line is; mirrors LogLevel so callers need no logging-package types.</summary>
    public enum LogSeverity { Trace = 0, Debug = 1, Information = 2, Warning = 3, Error = 4, Critical = 5, None = 6 }

    /// <summary>
    /// The client's default logger: lines from background threads go into queues that cmdlets drain on the
    /// pipeline thread as Verbose/Debug records. A line goes only to the queue of the cmdlet whose call made it
    /// (an AsyncLocal scope the cmdlet sets, which flows into the tasks it starts), so one runspace's -Debug never
    /// shows another runspace's requests. Lines outside any live scope are dropped. Nothing here knows PowerShell.
    /// </summary>
    public sealed class QueueLogger : ILogger
    {
        public static readonly QueueLogger Instance = new QueueLogger();

        private readonly ConcurrentDictionary<ConcurrentQueue<LogLine>, LogSeverity> _sinks = new ConcurrentDictionary<ConcurrentQueue<LogLine>, LogSeverity>();
        private volatile int _minimum = (int)LogLevel.None;
        private static readonly AsyncLocal<ConcurrentQueue<LogLine>?> Scope = new AsyncLocal<ConcurrentQueue<LogLine>?>();

        /// <summary>
        /// Makes 'sink' the destination of lines logged from this flow (this thread and the tasks it starts from
        /// now on); returns the previous one, to be restored with <see cref="RestoreScope"/>.
        /// </summary>
        public static ConcurrentQueue<LogLine>? EnterScope(ConcurrentQueue<LogLine>? sink)
        {
            var previous = Scope.Value;
            Scope.Value = sink;
            return previous;
        }

        /// <summary>This flow's destination, for work that logs later on another flow (the socket reader).</summary>
        public static ConcurrentQueue<LogLine>? CurrentScope => Scope.Value;

        public static void RestoreScope(ConcurrentQueue<LogLine>? previous) => Scope.Value = previous;

        /// <summary>Starts collecting lines at or above minimumLevel (Debug only when the cmdlet runs with -Debug).</summary>
        public void Attach(ConcurrentQueue<LogLine> sink, LogSeverity minimumLevel)
        {
            _sinks[sink] = minimumLevel;
            Recompute();
        }

        private void Recompute()
        {
            int min = (int)LogLevel.None;
            foreach (var level in _sinks.Values) if ((int)level < min) min = (int)level;
            _minimum = min;
        }

        public void Detach(ConcurrentQueue<LogLine> sink)
        {
            _sinks.TryRemove(sink, out _);
            Recompute();
        }

        public IDisposable BeginScope<TState>(TState state) where TState : notnull => NullScope.Instance;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None && (int)logLevel >= _minimum;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var sink = Scope.Value;
            if (sink == null || !_sinks.TryGetValue(sink, out var level) || (int)logLevel < (int)level || sink.Count >= 10000) return;
            sink.Enqueue(new LogLine((LogSeverity)logLevel, formatter(state, exception)));
        }

        private sealed class NullScope : IDisposable
        {
            public static readonly NullScope Instance = new NullScope();
            public void Dispose() { }
        }
    }

    public readonly struct LogLine
    {
        public LogLine(LogSeverity level, string message)
        {
            Level = level;
            Message = message;
        }

        public LogSeverity Level { get; }
        public string Message { get; }
    }
}
