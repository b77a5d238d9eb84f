using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using Microsoft.Extensions.Logging;

namespace ExecBridge.Infrastructure
{
    /// <summary>
    /// Log lines from background threads go into queues that cmdlets drain on the pipeline thread as
    /// Verbose/Debug records; nothing here ever calls Write*.
    /// </summary>
    internal sealed class QueueLogger : ILogger
    {
        public static readonly QueueLogger Instance = new QueueLogger();

        private readonly ConcurrentDictionary<ConcurrentQueue<LogLine>, LogLevel> _sinks = new ConcurrentDictionary<ConcurrentQueue<LogLine>, LogLevel>();
        private volatile int _minimum = (int)LogLevel.None;

        /// <summary>Starts collecting lines at or above minimumLevel (Debug only when the cmdlet runs with -Debug).</summary>
        public void Attach(ConcurrentQueue<LogLine> sink, LogLevel minimumLevel)
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
            var line = new LogLine(logLevel, formatter(state, exception));
            foreach (var pair in _sinks)
                if (logLevel >= pair.Value && pair.Key.Count < 10000) pair.Key.Enqueue(line);
        }

        private sealed class NullScope : IDisposable
        {
            public static readonly NullScope Instance = new NullScope();
            public void Dispose() { }
        }
    }

    internal readonly struct LogLine
    {
        public LogLine(LogLevel level, string message)
        {
            Level = level;
            Message = message;
        }

        public LogLevel Level { get; }
        public string Message { get; }
    }
}
