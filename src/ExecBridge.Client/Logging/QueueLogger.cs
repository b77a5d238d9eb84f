using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Client.Logging
{
    /// <summary>How important a log line is; mirrors LogLevel so callers need no logging-package types.</summary>
    public enum LogSeverity { Trace = 0, Debug = 1, Information = 2, Warning = 3, Error = 4, Critical = 5, None = 6 }

    /// <summary>
    /// The client's default logger: lines from background threads go into queues that cmdlets drain on the
    /// pipeline thread as Verbose/Debug records. Nothing here knows PowerShell.
    /// </summary>
    public sealed class QueueLogger : ILogger
    {
        public static readonly QueueLogger Instance = new QueueLogger();

        private readonly ConcurrentDictionary<ConcurrentQueue<LogLine>, LogSeverity> _sinks = new ConcurrentDictionary<ConcurrentQueue<LogLine>, LogSeverity>();
        private volatile int _minimum = (int)LogLevel.None;

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
            var line = new LogLine((LogSeverity)logLevel, formatter(state, exception));
            foreach (var pair in _sinks)
                if ((int)logLevel >= (int)pair.Value && pair.Key.Count < 10000) pair.Key.Enqueue(line);
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
